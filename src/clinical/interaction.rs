//! The MAOI interaction rule (clinical-rules §7, used by the `maoi-serotonergic-interaction` flag and
//! by the order hooks §11): the one place that says which pairs interact and which washout applies.
//!
//! An MAO inhibitor is every drug the knowledge base marks `maoi` (antidepressant MAOIs, oral and
//! transdermal selegiline, rasagiline, safinamide, linezolid, methylene blue, procarbazine); its
//! partners are the drugs marked `serotonergic` or `maoi_contraindicated`. A pair interacts when the
//! two overlap, or when the second starts 0–N days (inclusive) after the first ended:
//! - an MAOI after a partner: N = the longer of `maoi_washout_days` and the partner's label washout
//!   (`washout_before_maoi_days`: fluoxetine 35, vortioxetine 21);
//! - a partner after an MAOI: N = `maoi_washout_days`.

use crate::knowledge::{Ingredient, Params};

/// The MAOI rule's partner side: serotonergic, or contraindicated with MAOIs for another reason.
pub fn is_partner(i: &Ingredient) -> bool {
    i.serotonergic || i.maoi_contraindicated
}

/// How the partner side is described in sentences.
pub fn partner_word(i: &Ingredient) -> &'static str {
    if i.serotonergic {
        "serotonergic"
    } else {
        "contraindicated with MAOIs"
    }
}

/// When `then` starts after `first` ended: the washout in days during which the pair interacts, or
/// `None` when the pair never interacts (the same ingredient, two partners, two MAOIs).
pub fn washout_days(first: &Ingredient, then: &Ingredient, p: &Params) -> Option<i64> {
    if first.id == then.id {
        return None;
    }
    if then.maoi && is_partner(first) {
        Some(
            first
                .washout_before_maoi_days
                .map_or(p.maoi_washout_days, |w| w.max(p.maoi_washout_days)),
        )
    } else if first.maoi && is_partner(then) {
        Some(p.maoi_washout_days)
    } else {
        None
    }
}

/// Two periods `[start, end)` overlap; a zero-length period (a start-only statement) covers its day.
pub fn overlap(a: (i64, i64), b: (i64, i64)) -> bool {
    let end = |(s, e): (i64, i64)| e.max(s + 1);
    a.0 < end(b) && b.0 < end(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clinical::test_support::kb;

    #[test]
    fn pairs_and_washouts() {
        let i = |id: &str| kb().ingredient(id).expect(id);
        let p = kb().params();
        assert_eq!(washout_days(i("sertraline"), i("phenelzine"), p), Some(14));
        assert_eq!(washout_days(i("fluoxetine"), i("rasagiline"), p), Some(35));
        assert_eq!(washout_days(i("vortioxetine"), i("linezolid"), p), Some(21));
        assert_eq!(washout_days(i("phenelzine"), i("tramadol"), p), Some(14));
        assert_eq!(
            washout_days(i("selegiline-oral"), i("methylphenidate"), p),
            Some(14)
        );
        assert_eq!(washout_days(i("sertraline"), i("tramadol"), p), None);
        assert_eq!(washout_days(i("phenelzine"), i("rasagiline"), p), None);
        assert_eq!(washout_days(i("phenelzine"), i("phenelzine"), p), None);
        assert!(overlap((10, 10), (5, 20)));
        assert!(overlap((10, 10), (10, 10)));
        assert!(!overlap((10, 10), (11, 20)));
        assert!(!overlap((1, 10), (10, 20)));
    }
}
