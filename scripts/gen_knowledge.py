#!/usr/bin/env python3
"""Generate knowledge/conditions.json, knowledge/procedures.json and knowledge/products.json.

Inputs (all in the repository by default)
  * the VSAC value sets in knowledge/valuesets/ (provenance in its README; another folder with --valuesets DIR);
  * the RxNorm codes of medication resources in the sample data tests/data/sample-data/** (another folder with
    --samples DIR);
  * knowledge/drugs.toml (which ingredients exist, their names) and knowledge/products-extra.toml.

Outputs are deterministic (sorted, stable formatting), so a re-run on the same inputs gives byte-identical files.
Standard library only (Python 3.11+). Run `python3 scripts/gen_knowledge.py --self-test` to check the display parser.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import tomllib
from collections import Counter, defaultdict

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"

# ----------------------------------------------------------------------------------------------------------------
# Condition categories from value sets (clinical-rules §6-§7; knowledge/valuesets/README.md).

MDD_VS = "2.16.840.1.113883.3.464.1003.105.12.1007"
VALUE_SET_CATEGORIES = [
    # (oid, category); MDD is handled separately (display rules, SNOMED only).
    ("2.16.840.1.113883.3.67.1.101.1.128", "bipolar"),
    ("2.16.840.1.113883.3.464.1003.105.12.1104", "psychosis"),
    ("2.16.840.1.113883.3.464.1003.106.12.1001", "substance-use"),
    ("2.16.840.1.113762.1.4.1111.171", "substance-use"),
    ("2.16.840.1.113883.3.464.1003.105.12.1210", "anxiety"),
    ("2.16.840.1.113883.3.67.1.101.1.246", "personality-disorder"),
    ("2.16.840.1.113883.3.464.1003.117.12.1015", "hyperthyroidism"),
    ("2.16.840.1.113762.1.4.1029.296", "hyperthyroidism"),
    ("2.16.840.1.113762.1.4.1248.130", "suicide-risk"),
]
# Procedure kinds from value sets (clinical-rules §1, §7). The add-on, family and group psychotherapy CPT codes §1 adds
# to this set are not in any copied value set: they are hand rows in codes.toml (the loader refuses a code in both).
PROCEDURE_VALUE_SETS = [
    ("2.16.840.1.113883.3.526.3.1496", "psychotherapy"),  # Psych Visit Psychotherapy: CPT 90832/90834/90837 + SNOMED
]
DERIVED_FILE = "derived-ptsd-adhd-subsets.json"
DERIVED_CATEGORIES = [("ptsd", "ptsd"), ("adhd", "adhd")]

# RxNorm-bearing value sets: the product table is built from all of them (filtered to known ingredients).
MEDICATION_RESOURCE_TYPES = {"MedicationStatement", "MedicationRequest", "MedicationDispense", "Medication",
                             "MedicationAdministration"}

# ----------------------------------------------------------------------------------------------------------------
# RxNorm display parsing

SALT_WORDS = {
    "hydrochloride", "hcl", "hydrobromide", "hbr", "maleate", "succinate", "mesylate", "pamoate", "sulfate",
    "carbonate", "citrate", "fumarate", "tartrate", "besylate", "oxalate", "sodium", "potassium", "acetate",
    "malate", "aspartate", "bitartrate",
}
# Generic-name variants that are not "<ingredient> <salt>".
NAME_ALIASES = {
    "valproic acid": "valproate",
    "divalproex": "valproate",
}
# Strength conversions to the unit the dose thresholds use (drugs.toml), keyed by (ingredient, salt word).
# Bupropion thresholds are bupropion HCl; Aplenzin (HBr) 174/348/522 mg = 150/300/450 mg HCl (trd-clinical-knowledge §2.1).
SALT_EQUIVALENTS = {
    ("bupropion", "hydrobromide"): 150.0 / 174.0,
}
# mEq -> mg of lithium carbonate (8 mEq lithium = 300 mg lithium carbonate).
MEQ_TO_MG = {"lithium": 300.0 / 8.0}

UNIT_TO_MG = {"MG": 1.0, "MCG": 0.001, "UG": 0.001, "G": 1000.0}
STRENGTH_RE = re.compile(
    r"^(?P<name>.*?)\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>MG|MCG|UG|MEQ|G|UNT|MMOL)"
    r"(?:\s*/\s*(?P<den>ML|HR|ACTUAT|MG|\d+(?:\.\d+)?\s*ML))?(?P<rest>(?![A-Za-z]).*)$",
    re.IGNORECASE,
)
HOURS_RE = re.compile(r"\b(\d+)\s*HR\b", re.IGNORECASE)
QTY_PREFIX_RE = re.compile(r"^(?P<qty>\d+(?:\.\d+)?)\s*(?P<unit>ML|ACTUAT)\s+(?P<rest>.*)$", re.IGNORECASE)
BRAND_RE = re.compile(r"^(?P<body>.*?)\s*\[(?P<brand>[^\]]+)\]\s*$")
PACK_RE = re.compile(r"^\{(?P<inner>.*)\}\s*Pack$", re.IGNORECASE)
PACK_ITEM_RE = re.compile(r"(\d+)\s*\(([^()]*)\)")


class ParseError(Exception):
    pass


class Names:
    """Ingredient-name resolution against drugs.toml."""

    def __init__(self, drugs: list[dict]):
        self.by_name: dict[str, str] = {}
        self.ids = set()
        for row in drugs:
            iid = row["id"]
            self.ids.add(iid)
            self.by_name[iid.lower()] = iid
            self.by_name[row["display"].lower()] = iid
        for alias, iid in NAME_ALIASES.items():
            if iid in self.ids:
                self.by_name[alias] = iid

    def resolve(self, raw: str) -> tuple[str | None, str | None, list[str], str]:
        """Return (ingredient id or None, salt word or None, leading qualifier words, normalised name)."""
        words = [w for w in re.split(r"\s+", raw.strip().lower()) if w]
        salt = None
        core = []
        for w in words:
            if w in SALT_WORDS:
                salt = salt or w
            else:
                core.append(w)
        # Leading qualifiers ("Sensor", "Sprinkle", "PMDD", "Smoking Cessation", "Abuse-Deterrent"): drop words
        # from the left until the rest is a known name.
        for i in range(len(core)):
            name = " ".join(core[i:])
            if name in self.by_name:
                return self.by_name[name], salt, core[:i], name
        return None, salt, [], " ".join(core)


def _mg(num: float, unit: str, ingredient: str) -> float | None:
    unit = unit.upper()
    if unit in UNIT_TO_MG:
        return num * UNIT_TO_MG[unit]
    if unit == "MEQ" and ingredient in MEQ_TO_MG:
        return num * MEQ_TO_MG[ingredient]
    return None


def _round(x: float | None) -> float | None:
    if x is None:
        return None
    return float(round(x, 6))


def parse_component(text: str, names: Names, hours: int | None, qty: tuple[float, str] | None):
    """One "<name> <num> <unit>[/<den>] [dose form]" component -> dict or raise ParseError."""
    m = STRENGTH_RE.match(text.strip())
    if not m:
        raise ParseError(f"no strength in {text!r}")
    iid, salt, qualifiers, norm = names.resolve(m.group("name"))
    if iid is None:
        raise ParseError(f"unknown ingredient {norm!r}")
    num = float(m.group("num"))
    mg = _mg(num, m.group("unit"), iid)
    den = (m.group("den") or "").upper().replace(" ", "")
    note = None
    if mg is not None:
        if den == "":
            pass
        elif den == "ML":
            if qty is not None and qty[1] == "ML":
                mg = mg * qty[0]  # "1.5 ML aripiprazole 200 MG/ML Prefilled Syringe" = 300 mg per syringe
            # else: strength per mL (liquids)
        elif den.endswith("ML"):  # "300 MG/5 ML"
            mg = mg / float(den[:-2])
        elif den == "HR":
            mg = mg * 24.0  # transdermal: mg/24 h
        else:
            note = f"strength per {den} not a dose unit"
            mg = None
    else:
        note = f"unit {m.group('unit')} not convertible to mg"
    if mg is not None and salt is not None and (iid, salt) in SALT_EQUIVALENTS:
        mg = mg * SALT_EQUIVALENTS[(iid, salt)]
        note = f"{salt} converted to the threshold salt (x{SALT_EQUIVALENTS[(iid, salt)]:.4f})"
    return {
        "ingredient": iid,
        "strength_mg": _round(mg),
        "rest": m.group("rest").strip(),
        "qualifiers": qualifiers,
        "note": note,
    }


def parse_display(display: str, names: Names) -> dict:
    """Parse an RxNorm SCD/SBD/GPCK/BPCK display (or a compact Synthea display) into ingredients + strengths.

    Returns {"ingredients": [{"ingredient", "strength_mg"}], "brand", "dose_form", "qualifiers", "notes"}.
    Raises ParseError when any ingredient is unknown or the display has no strength.
    """
    text = display.strip()
    brand = None
    bm = BRAND_RE.match(text)
    if bm:
        text, brand = bm.group("body"), bm.group("brand")
    pm = PACK_RE.match(text)
    if pm:
        items = PACK_ITEM_RE.findall(pm.group("inner"))
        if not items:
            raise ParseError(f"empty pack {display!r}")
        strengths: dict[str, set] = defaultdict(set)
        order: list[str] = []
        notes = []
        forms = set()
        for _count, inner in items:
            sub = parse_display(inner, names)
            forms.add(sub["dose_form"])
            notes.extend(sub["notes"])
            for ing in sub["ingredients"]:
                if ing["ingredient"] not in strengths:
                    order.append(ing["ingredient"])
                strengths[ing["ingredient"]].add(ing["strength_mg"])
        ingredients = []
        for iid in order:
            s = strengths[iid]
            ingredients.append({"ingredient": iid, "strength_mg": next(iter(s)) if len(s) == 1 else None})
            if len(s) > 1:
                notes.append(f"pack with several {iid} strengths: strength unknown")
        return {"ingredients": ingredients, "brand": brand, "dose_form": " | ".join(sorted(f for f in forms if f)),
                "qualifiers": [], "notes": notes}

    hours = None
    hm = HOURS_RE.search(text)
    if hm:
        hours = int(hm.group(1))
        text = (text[: hm.start()] + text[hm.end():]).strip()
    qty = None
    qm = QTY_PREFIX_RE.match(text)
    if qm:
        qty = (float(qm.group("qty")), qm.group("unit").upper())
        text = qm.group("rest")
    parts = [p for p in re.split(r"\s+/\s+", text)]
    comps = [parse_component(p, names, hours, qty) for p in parts]
    for c in comps[:-1]:
        if c["rest"]:
            raise ParseError(f"unexpected text {c['rest']!r} inside a combination")
    seen = set()
    ingredients = []
    for c in comps:
        if c["ingredient"] in seen:
            raise ParseError(f"ingredient {c['ingredient']} twice")
        seen.add(c["ingredient"])
        ingredients.append({"ingredient": c["ingredient"], "strength_mg": c["strength_mg"]})
    qualifiers = [q for c in comps for q in c["qualifiers"]]
    return {
        "ingredients": ingredients,
        "brand": brand,
        "dose_form": comps[-1]["rest"],
        "qualifiers": qualifiers,
        "notes": [c["note"] for c in comps if c["note"]],
    }


def product_exclusion(display: str, parsed: dict) -> str | None:
    """Products that parse but must not map (reason), per the knowledge base's clinical notes."""
    ids = [i["ingredient"] for i in parsed["ingredients"]]
    if "selegiline" in ids and "transdermal" not in display.lower():
        return "oral selegiline (Parkinson's, MAO-B): not an antidepressant trial (trd-clinical-knowledge §2.1)"
    return None


# ----------------------------------------------------------------------------------------------------------------
# Inputs


def load_toml(path: str) -> dict:
    with open(path, "rb") as f:
        return tomllib.load(f)


def load_value_sets(vs_dir: str) -> dict[str, dict]:
    out = {}
    for path in sorted(glob.glob(os.path.join(vs_dir, "valueset-*.json"))):
        with open(path, encoding="utf-8") as f:
            vs = json.load(f)
        oid = os.path.basename(path)[len("valueset-"):-len(".json")]
        out[oid] = vs
    return out


def rxnorm_codings_in_samples(sample_dir: str) -> dict[str, tuple[str, str]]:
    """code -> (display, relative file) of RxNorm codings inside medication resources of the sample data."""
    found: dict[str, tuple[str, str]] = {}

    def walk(node, in_med: bool, rel: str):
        if isinstance(node, dict):
            rt = node.get("resourceType")
            # Inside a medication resource (contained Medications included) until another resource starts.
            here = in_med if rt is None else rt in MEDICATION_RESOURCE_TYPES
            if here and node.get("system") == RXNORM and node.get("code"):
                code = str(node["code"])
                disp = node.get("display")
                if disp and (code not in found or (rel, disp) < (found[code][1], found[code][0])):
                    found[code] = (disp, rel)
            for v in node.values():
                walk(v, here, rel)
        elif isinstance(node, list):
            for v in node:
                walk(v, in_med, rel)

    for path in sorted(glob.glob(os.path.join(sample_dir, "**", "*.json"), recursive=True)):
        rel = os.path.relpath(path, sample_dir)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        walk(data, False, rel)
    return found


def norm_code(system: str, code: str) -> str:
    code = code.strip()
    if system == ICD10CM:
        return code.replace(".", "").upper()
    return code


# ----------------------------------------------------------------------------------------------------------------
# Generation


def gen_conditions(value_sets: dict[str, dict], vs_dir: str, summary: list[str]) -> dict:
    codes: dict[tuple[str, str], dict] = {}
    dropped = Counter()

    def add(system: str, code: str, display: str, cats: list[str], source: str):
        key = (system, norm_code(system, code))
        row = codes.setdefault(key, {"system": key[0], "code": key[1], "display": display, "categories": set(),
                                     "sources": set()})
        row["categories"].update(cats)
        row["sources"].add(source)

    used = []
    # Major Depression: SNOMED codes only (ICD-10-CM MDD codes are hand-authored per clinical-rules §6 in codes.toml).
    mdd = value_sets[MDD_VS]
    used.append({"oid": MDD_VS, "title": mdd.get("title"), "version": mdd.get("version"),
                 "rule": "SNOMED: mdd (remission displays -> mdd-remission); +psychotic-features; +catatonia"})
    for c in mdd["expansion"]["contains"]:
        if c["system"] != SNOMED:
            dropped["MDD value set ICD-10-CM code (codes.toml is authoritative, clinical-rules §6)"] += 1
            continue
        d = c["display"].lower()
        cats = ["mdd-remission" if "remission" in d else "mdd"]
        if re.search(r"psychotic|psychosis", d) and not re.search(r"without psycho", d):
            cats.append("psychotic-features")
        if "catatoni" in d:
            cats.append("catatonia")
        add(c["system"], c["code"], c["display"], cats, MDD_VS)

    for oid, cat in VALUE_SET_CATEGORIES:
        vs = value_sets[oid]
        used.append({"oid": oid, "title": vs.get("title"), "version": vs.get("version"), "rule": cat})
        for c in vs["expansion"]["contains"]:
            if c["system"] not in (ICD10CM, SNOMED):
                dropped[f"unsupported system {c['system']}"] += 1
                continue
            if cat == "personality-disorder" and (norm_code(c["system"], c["code"]) == "F340"
                                                  or "cyclothymi" in c["display"].lower()):
                dropped["cyclothymia in the personality set (codes.toml: bipolar only, clinical-rules §7)"] += 1
                continue
            add(c["system"], c["code"], c["display"], [cat], oid)

    with open(os.path.join(vs_dir, DERIVED_FILE), encoding="utf-8") as f:
        derived = json.load(f)
    for key, cat in DERIVED_CATEGORIES:
        used.append({"oid": DERIVED_FILE + "#" + key, "title": f"derived {key} subset of 105.12.1004",
                     "version": derived.get("derivedFrom", "").rsplit("|", 1)[-1], "rule": cat})
        for c in derived[key]:
            add(c["system"], c["code"], c["display"], [cat], DERIVED_FILE + "#" + key)

    rows = []
    for key in sorted(codes):
        r = codes[key]
        rows.append({"system": r["system"], "code": r["code"], "categories": sorted(r["categories"]),
                     "display": r["display"], "sources": sorted(r["sources"])})
    per_cat = Counter(c for r in rows for c in r["categories"])
    summary.append(f"conditions: {len(rows)} codes")
    for cat in sorted(per_cat):
        summary.append(f"  {cat:22} {per_cat[cat]}")
    for reason, n in sorted(dropped.items()):
        summary.append(f"  dropped {n:4} {reason}")
    return {
        "generated_by": "scripts/gen_knowledge.py",
        "note": "GENERATED from the VSAC value sets listed below; do not edit by hand (see knowledge/README.md).",
        "value_sets": used,
        "codes": rows,
    }


def gen_procedures(value_sets: dict[str, dict], summary: list[str]) -> dict:
    """Procedure codes -> kind from the procedure value sets (CPT and SNOMED CT only)."""
    rows: dict[tuple[str, str], dict] = {}
    used = []
    dropped = Counter()
    for oid, kind in PROCEDURE_VALUE_SETS:
        vs = value_sets[oid]
        used.append({"oid": oid, "title": vs.get("title"), "version": vs.get("version"), "rule": kind})
        for c in vs["expansion"]["contains"]:
            if c["system"] not in (CPT, SNOMED):
                dropped[f"unsupported system {c['system']}"] += 1
                continue
            key = (c["system"], c["code"].strip())
            if key in rows and rows[key]["kind"] != kind:
                raise SystemExit(f"procedure code {key} is both {rows[key]['kind']} and {kind}")
            row = rows.setdefault(key, {"system": key[0], "code": key[1], "kind": kind, "display": c["display"],
                                        "sources": []})
            if oid not in row["sources"]:
                row["sources"].append(oid)
    out = [rows[k] for k in sorted(rows)]
    per_kind = Counter(r["kind"] for r in out)
    summary.append(f"procedures: {len(out)} codes")
    for kind in sorted(per_kind):
        summary.append(f"  {kind:22} {per_kind[kind]}")
    for reason, n in sorted(dropped.items()):
        summary.append(f"  dropped {n:4} {reason}")
    return {
        "generated_by": "scripts/gen_knowledge.py",
        "note": "GENERATED from the VSAC value sets listed below; do not edit by hand (see knowledge/README.md). "
                "Hand-authored procedure codes (ECT, TMS, esketamine, psychotherapy add-on/family/group CPT) are in "
                "codes.toml.",
        "value_sets": used,
        "codes": out,
    }


def gen_products(value_sets: dict[str, dict], samples: dict[str, tuple[str, str]], extra: dict, names: Names,
                 summary: list[str]) -> dict:
    candidates: dict[str, dict] = {}  # rxcui -> {"display", "sources"}
    for oid, vs in sorted(value_sets.items()):
        for c in vs["expansion"].get("contains", []):
            if c["system"] != RXNORM:
                continue
            cand = candidates.setdefault(c["code"], {"display": c["display"], "sources": set()})
            cand["sources"].add("VSAC " + oid)
    for code, (disp, rel) in sorted(samples.items()):
        cand = candidates.setdefault(code, {"display": disp, "sources": set()})
        cand["sources"].add("sample-data " + rel)

    products: dict[str, dict] = {}
    skipped: Counter = Counter()
    skipped_examples: dict[str, str] = {}
    notes: Counter = Counter()
    for code in sorted(candidates, key=lambda c: (len(c), c)):
        cand = candidates[code]
        display = cand["display"]
        try:
            parsed = parse_display(display, names)
        except ParseError as e:
            reason = re.sub(r"'[^']*'", "…", str(e)) if str(e).startswith("no strength") else str(e)
            skipped[reason] += 1
            skipped_examples.setdefault(reason, f"{code} {display}")
            continue
        excl = product_exclusion(display, parsed)
        if excl:
            skipped[excl] += 1
            skipped_examples.setdefault(excl, f"{code} {display}")
            continue
        for n in parsed["notes"]:
            notes[n] += 1
        products[code] = {"rxcui": code, "display": display, "ingredients": parsed["ingredients"],
                          "sources": sorted(cand["sources"])}

    for row in extra.get("product", []):
        for iid in row["ingredients"]:
            if iid not in names.ids:
                raise SystemExit(f"products-extra.toml: product {row['rxcui']}: unknown ingredient {iid}")
        if row["rxcui"] in products:
            raise SystemExit(f"products-extra.toml: product {row['rxcui']} already generated")
        strengths = row.get("strength_mg", [None] * len(row["ingredients"]))
        products[row["rxcui"]] = {
            "rxcui": row["rxcui"], "display": row["display"],
            "ingredients": [{"ingredient": i, "strength_mg": s} for i, s in zip(row["ingredients"], strengths)],
            "sources": ["products-extra.toml: " + row["source"]],
        }

    rows = [products[k] for k in sorted(products, key=lambda c: (len(c), c))]
    per_ing = Counter(i["ingredient"] for r in rows for i in r["ingredients"])
    n_null = sum(1 for r in rows for i in r["ingredients"] if i["strength_mg"] is None)
    summary.append(f"products: {len(rows)} (from {len(candidates)} RxNorm codes in value sets + sample data, "
                   f"{len(extra.get('product', []))} hand-authored); ingredient strengths unknown: {n_null}")
    summary.append("  per ingredient: " + ", ".join(f"{k} {v}" for k, v in sorted(per_ing.items())))
    missing = sorted(names.ids - set(per_ing))
    summary.append("  ingredients without any product: " + (", ".join(missing) or "none"))
    for n, c in sorted(notes.items()):
        summary.append(f"  note {c:4} {n}")
    summary.append(f"  skipped: {sum(skipped.values())}")
    for reason, n in sorted(skipped.items(), key=lambda x: (-x[1], x[0])):
        summary.append(f"    {n:4} {reason}   e.g. {skipped_examples[reason]}")
    return {
        "generated_by": "scripts/gen_knowledge.py",
        "note": "GENERATED from the RxNorm codes of the VSAC value sets and the sample data, filtered to the "
                "ingredients of drugs.toml; do not edit by hand (see knowledge/README.md).",
        "rxnorm_release": "2024-01",
        "products": rows,
    }


def dump_json(obj: dict, list_key: str) -> str:
    """Stable formatting: top-level keys in insertion order, one list row per line."""
    lines = ["{"]
    keys = list(obj)
    for i, k in enumerate(keys):
        comma = "," if i < len(keys) - 1 else ""
        v = obj[k]
        if isinstance(v, list):
            lines.append(f"  {json.dumps(k)}: [")
            for j, row in enumerate(v):
                rc = "," if j < len(v) - 1 else ""
                lines.append("    " + json.dumps(row, ensure_ascii=False) + rc)
            lines.append(f"  ]{comma}")
        else:
            lines.append(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------------------
# Self-test of the display parser (the display forms named in the design brief).


def self_test(names: Names) -> None:
    def ing(display):
        return [(i["ingredient"], i["strength_mg"]) for i in parse_display(display, names)["ingredients"]]

    cases = [
        ("sertraline 100 MG Oral Tablet", [("sertraline", 100.0)]),
        ("24 HR venlafaxine 150 MG Extended Release Oral Capsule", [("venlafaxine", 150.0)]),
        ("doxepin 10 MG/ML Oral Solution", [("doxepin", 10.0)]),
        ("olanzapine 6 MG / fluoxetine 25 MG Oral Capsule", [("olanzapine", 6.0), ("fluoxetine", 25.0)]),
        ("sertraline 50 MG Oral Tablet [Zoloft]", [("sertraline", 50.0)]),
        ("{21 (lamotrigine 25 MG Oral Tablet) / 7 (lamotrigine 50 MG Oral Tablet) } Pack", [("lamotrigine", None)]),
        ("{35 (lamotrigine 25 MG Oral Tablet) } Pack", [("lamotrigine", 25.0)]),
        ("liothyronine sodium 0.005 MG Oral Tablet", [("liothyronine", 0.005)]),
        ("liothyronine 25 MCG Oral Tablet [Cytomel]", [("liothyronine", 0.025)]),
        ("24 HR selegiline 0.25 MG/HR Transdermal System", [("selegiline", 6.0)]),
        ("Sertraline 100MG", [("sertraline", 100.0)]),
        ("Fluoxetine 25MG", [("fluoxetine", 25.0)]),
        ("lithium carbonate 300 MG Oral Tablet", [("lithium", 300.0)]),
        ("24 HR bupropion hydrobromide 348 MG Extended Release Oral Tablet", [("bupropion", 300.0)]),
        ("1.5 ML aripiprazole 200 MG/ML Prefilled Syringe", [("aripiprazole", 300.0)]),
        ("Sensor aripiprazole 10 MG Oral Tablet", [("aripiprazole", 10.0)]),
        ("bupropion hydrochloride 105 MG / dextromethorphan hydrobromide 45 MG Extended Release Oral Tablet",
         [("bupropion", 105.0), ("dextromethorphan", 45.0)]),
    ]
    for display, want in cases:
        got = ing(display)
        assert got == want, f"{display!r}: got {got}, want {want}"
    for bad in ["amitriptyline hydrochloride 10 MG / perphenazine 2 MG Oral Tablet", "Vicodin 5/500 Oral Tablet",
                "aripiprazole lauroxil 441 MG Injection"]:
        try:
            parse_display(bad, names)
        except ParseError:
            continue
        raise AssertionError(f"{bad!r} should not parse")
    p = parse_display("selegiline hydrochloride 5 MG Oral Capsule", names)
    assert product_exclusion("selegiline hydrochloride 5 MG Oral Capsule", p)
    print(f"self-test: {len(cases) + 4} display cases OK")


def main(argv: list[str]) -> int:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--valuesets", default=os.path.join(repo, "knowledge", "valuesets"),
                    help="folder of valueset-*.json (default: knowledge/valuesets)")
    ap.add_argument("--samples", default=os.path.join(repo, "tests", "data", "sample-data"),
                    help="FHIR sample-data folder whose RxNorm codes join the products (default: tests/data/sample-data)")
    ap.add_argument("--out", default=os.path.join(repo, "knowledge"), help="knowledge folder (read and written)")
    ap.add_argument("--check", action="store_true", help="do not write; exit 1 if the outputs would change")
    ap.add_argument("--self-test", action="store_true", help="test the display parser and exit")
    args = ap.parse_args(argv)

    drugs = load_toml(os.path.join(args.out, "drugs.toml"))["ingredient"]
    names = Names(drugs)
    if args.self_test:
        self_test(names)
        return 0

    vs_dir = args.valuesets
    if not glob.glob(os.path.join(vs_dir, "valueset-*.json")):
        print(f"no valueset-*.json under {vs_dir}", file=sys.stderr)
        return 2
    sample_dir = args.samples
    if not os.path.isdir(sample_dir):
        print(f"no sample-data folder {sample_dir}", file=sys.stderr)
        return 2
    extra_path = os.path.join(args.out, "products-extra.toml")
    extra = load_toml(extra_path) if os.path.exists(extra_path) else {}

    self_test(names)
    value_sets = load_value_sets(vs_dir)
    samples = rxnorm_codings_in_samples(sample_dir)
    summary: list[str] = [f"value sets: {len(value_sets)} from {os.path.normpath(vs_dir)}; "
                          f"sample-data RxNorm codes: {len(samples)}"]
    conditions = gen_conditions(value_sets, vs_dir, summary)
    procedures = gen_procedures(value_sets, summary)
    products = gen_products(value_sets, samples, extra, names, summary)

    changed = False
    outputs = [("conditions.json", conditions, "codes"), ("procedures.json", procedures, "codes"),
               ("products.json", products, "products")]
    for fname, obj, key in outputs:
        text = dump_json(obj, key)
        path = os.path.join(args.out, fname)
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if old != text:
            changed = True
            if not args.check:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
        summary.append(f"{fname}: {'unchanged' if old == text else ('would change' if args.check else 'written')}")
    print("\n".join(summary))
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
