//! Patterns and small checks shared by the rule files.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::sync::LazyLock;

use regex::Regex;

use super::Ctx;

/// Longest environment name: a DNS label, like a Kubernetes namespace. Names derived from it
/// (RDS allows 63 characters) are checked separately.
pub(super) const MAX_ENV_NAME: usize = 63;

/// `us-east-1`, `eu-central-1`, `us-gov-west-1`, `cn-northwest-1`, `ap-southeast-2`.
pub(super) static REGION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:us-gov|[a-z]{2})-(?:central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9][0-9]?$",
    )
    .expect("static pattern")
});

/// Environment variable and secret names, as a shell would accept them.
pub(super) static ENV_VAR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*$").expect("static pattern"));

/// Lower-case letters, digits and single hyphens, starting with a letter, not ending in a hyphen.
static DNS_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$").expect("static pattern"));

/// STS's rule for an external id: 2–1224 of letters, digits and `_+=,.@:/-`.
static EXTERNAL_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_+=,.@:/-]{2,1224}$").expect("static pattern"));

/// What is wrong with an external id for STS AssumeRole, if anything. Never echoes the
/// value: a trust policy's external id is best not repeated in logs and error bodies.
pub fn external_id_problem(value: &str) -> Option<&'static str> {
    (!EXTERNAL_ID.is_match(value))
        .then_some("must be 2–1224 characters: letters, digits and _ + = , . @ : / -")
}

/// The partition a valid region belongs to; `None` when the region is not valid.
pub(super) fn region_partition(region: &str) -> Option<&'static str> {
    if !REGION.is_match(region) {
        None
    } else if region.starts_with("cn-") {
        Some("aws-cn")
    } else if region.starts_with("us-gov-") {
        Some("aws-us-gov")
    } else {
        Some("aws")
    }
}

/// What is wrong with a name that must be lower-case letters, digits and single hyphens,
/// starting with a letter and not ending with a hyphen (environments, services, alarms).
pub(super) fn name_problem(name: &str) -> Option<String> {
    if DNS_NAME.is_match(name) {
        return None;
    }
    let rule = "use lower-case letters, digits and single hyphens, starting with a letter";
    Some(if name.is_empty() {
        "must not be empty".to_owned()
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        format!("{c:?} is not allowed; {rule}")
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        format!("must start with a lower-case letter; {rule}")
    } else if name.contains("--") {
        format!("must not contain \"--\"; {rule}")
    } else {
        format!("must not end with a hyphen; {rule}")
    })
}

/// Reports `value` outside `lo..=hi`; true when it is inside.
pub(super) fn in_range<T: PartialOrd + Display + Copy>(
    cx: &mut Ctx<'_>,
    field: impl Into<String>,
    what: &str,
    value: T,
    lo: T,
    hi: T,
) -> bool {
    if value < lo || value > hi {
        cx.err(
            field,
            format!("{what} {value} is out of range; allowed {lo}–{hi}"),
        );
        false
    } else {
        true
    }
}

/// Reports a NaN or infinite number (YAML can carry `.nan` and `.inf`); true when finite.
pub(super) fn finite(cx: &mut Ctx<'_>, field: impl Into<String>, value: f64) -> bool {
    if value.is_finite() {
        true
    } else {
        cx.err(
            field,
            format!("{value} is not a number Plumb can use; give a finite value"),
        );
        false
    }
}

/// Indices of the items that repeat an earlier one.
pub(super) fn repeated<T: Ord>(items: impl IntoIterator<Item = T>) -> Vec<usize> {
    let mut seen = BTreeSet::new();
    items
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| (!seen.insert(item)).then_some(i))
        .collect()
}

/// A `major` or `major.minor` (optionally `.patch`) version, as numbers.
pub(super) fn version(text: &str) -> Option<(u32, Option<u32>)> {
    static VERSION: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(\d{1,3})(?:\.(\d{1,3}))?(?:\.\d{1,3})?$").expect("static pattern")
    });
    let caps = VERSION.captures(text)?;
    let major = caps[1].parse().ok()?;
    let minor = caps.get(2).map(|m| m.as_str().parse()).transpose().ok()?;
    Some((major, minor))
}

/// CloudWatch alarm periods: 10, 20, 30, or a multiple of 60 seconds.
pub(super) fn alarm_period_ok(period: u32) -> bool {
    matches!(period, 10 | 20 | 30) || (period >= 60 && period.is_multiple_of(60))
}

/// CloudWatch limits how far back an alarm looks: one day for periods under an hour, seven
/// days otherwise. Returns the limit that `period × evaluationPeriods` breaks, if any.
pub(super) fn alarm_span_problem(period: u32, evaluation_periods: u32) -> Option<String> {
    let span = u64::from(period) * u64::from(evaluation_periods);
    let (limit, rule) = if period < 3600 {
        (86_400, "one day (86400 s) for periods under an hour")
    } else {
        (604_800, "seven days (604800 s)")
    };
    (span > limit).then(|| {
        format!(
            "period {period} s × evaluationPeriods {evaluation_periods} = {span} s; CloudWatch allows at most {rule}"
        )
    })
}

const DAY: u32 = 24 * 60;
const WEEK: u32 = 7 * DAY;
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A recurring window: start in minutes (from midnight, or from Monday 00:00) and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window {
    pub start: u32,
    pub len: u32,
}

fn hh_mm(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn ddd_hh_mm(text: &str) -> Option<u32> {
    let (day, time) = text.split_once(':')?;
    let day = DAYS.iter().position(|d| d.eq_ignore_ascii_case(day))?;
    Some(day as u32 * DAY + hh_mm(time)?)
}

/// `hh24:mi-hh24:mi` in UTC; may wrap past midnight.
pub(super) fn daily_window(text: &str) -> Option<Window> {
    let (a, b) = text.split_once('-')?;
    let (start, end) = (hh_mm(a)?, hh_mm(b)?);
    Some(Window {
        start,
        len: (end + DAY - start) % DAY,
    })
}

/// `ddd:hh24:mi-ddd:hh24:mi` in UTC; may wrap past Sunday.
pub(super) fn weekly_window(text: &str) -> Option<Window> {
    let (a, b) = text.split_once('-')?;
    let (start, end) = (ddd_hh_mm(a)?, ddd_hh_mm(b)?);
    Some(Window {
        start,
        len: (end + WEEK - start) % WEEK,
    })
}

/// Whether a daily window meets a weekly one on any day of the week.
pub(super) fn windows_overlap(daily: Window, weekly: Window) -> bool {
    let meets = |a: Window, b: Window| {
        (b.start + WEEK - a.start) % WEEK < a.len || (a.start + WEEK - b.start) % WEEK < b.len
    };
    (0..7).any(|day| {
        meets(
            Window {
                start: day * DAY + daily.start,
                len: daily.len,
            },
            weekly,
        )
    })
}

/// Checks an optional daily window (format and minimum length); returns it when valid.
pub(super) fn check_daily_window(
    cx: &mut Ctx<'_>,
    field: &str,
    text: Option<&str>,
    min_minutes: u32,
) -> Option<Window> {
    let text = text?;
    match daily_window(text) {
        None => {
            cx.err(field, "must be hh24:mi-hh24:mi in UTC, e.g. 03:00-04:00");
            None
        }
        Some(w) if w.len < min_minutes => {
            cx.err(
                field,
                format!("lasts {} minutes; the minimum is {min_minutes}", w.len),
            );
            None
        }
        Some(w) => Some(w),
    }
}

/// Checks an optional weekly window (format and minimum length); returns it when valid.
pub(super) fn check_weekly_window(
    cx: &mut Ctx<'_>,
    field: &str,
    text: Option<&str>,
    min_minutes: u32,
) -> Option<Window> {
    let text = text?;
    match weekly_window(text) {
        None => {
            cx.err(
                field,
                "must be ddd:hh24:mi-ddd:hh24:mi in UTC with days mon…sun, e.g. sun:05:00-sun:06:00",
            );
            None
        }
        Some(w) if w.len < min_minutes => {
            cx.err(
                field,
                format!("lasts {} minutes; the minimum is {min_minutes}", w.len),
            );
            None
        }
        Some(w) => Some(w),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_what_is_wrong() {
        assert_eq!(name_problem("arrakis-production"), None);
        assert_eq!(name_problem("a1-b2"), None);
        assert!(name_problem("").unwrap().contains("empty"));
        assert!(name_problem("Api").unwrap().contains("'A'"));
        assert!(name_problem("my_app").unwrap().contains("'_'"));
        assert!(name_problem("1api").unwrap().contains("start with"));
        assert!(name_problem("-api").unwrap().contains("start with"));
        assert!(name_problem("a--b").unwrap().contains("--"));
        assert!(name_problem("api-").unwrap().contains("end with"));
    }

    #[test]
    fn regions_and_partitions() {
        assert_eq!(region_partition("us-east-1"), Some("aws"));
        assert_eq!(region_partition("eu-central-1"), Some("aws"));
        assert_eq!(region_partition("ap-southeast-2"), Some("aws"));
        assert_eq!(region_partition("us-gov-west-1"), Some("aws-us-gov"));
        assert_eq!(region_partition("cn-northwest-1"), Some("aws-cn"));
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "useast1",
            "us-east-1a",
            "mars-east-1",
        ] {
            assert_eq!(region_partition(bad), None, "{bad}");
        }
    }

    #[test]
    fn versions() {
        assert_eq!(version("15"), Some((15, None)));
        assert_eq!(version("15.10"), Some((15, Some(10))));
        assert_eq!(version("5.0.6"), Some((5, Some(0))));
        assert_eq!(version("15."), None);
        assert_eq!(version("v15"), None);
    }

    #[test]
    fn alarm_periods_and_spans() {
        for ok in [10, 20, 30, 60, 120, 300, 3600] {
            assert!(alarm_period_ok(ok), "{ok}");
        }
        for bad in [0, 1, 15, 45, 90] {
            assert!(!alarm_period_ok(bad), "{bad}");
        }
        assert!(alarm_span_problem(60, 1440).is_none());
        assert!(alarm_span_problem(60, 1441).unwrap().contains("one day"));
        assert!(alarm_span_problem(3600, 168).is_none());
        assert!(alarm_span_problem(3600, 169)
            .unwrap()
            .contains("seven days"));
    }

    #[test]
    fn windows_parse_wrap_and_overlap() {
        assert_eq!(
            daily_window("02:00-03:00"),
            Some(Window {
                start: 120,
                len: 60
            })
        );
        assert_eq!(daily_window("23:30-00:30").unwrap().len, 60);
        assert_eq!(daily_window("2:00-3:00"), None);
        assert_eq!(daily_window("24:00-01:00"), None);
        let w = weekly_window("sun:23:00-mon:01:00").unwrap();
        assert_eq!((w.start, w.len), (6 * DAY + 23 * 60, 120));
        assert_eq!(weekly_window("Sun:05:00-Sun:06:00").unwrap().len, 60);
        assert_eq!(weekly_window("sunday:05:00-sun:06:00"), None);

        let backup = daily_window("03:00-04:00").unwrap();
        assert!(windows_overlap(
            backup,
            weekly_window("tue:03:30-tue:04:30").unwrap()
        ));
        assert!(!windows_overlap(
            backup,
            weekly_window("tue:04:00-tue:05:00").unwrap()
        ));
        // A backup window across midnight meets a maintenance window early on Monday.
        let late = daily_window("23:30-00:30").unwrap();
        assert!(windows_overlap(
            late,
            weekly_window("mon:00:00-mon:01:00").unwrap()
        ));
    }

    #[test]
    fn repeated_items_are_found_after_the_first() {
        assert_eq!(repeated(["a", "b", "a", "c", "b"]), vec![2, 4]);
        assert!(repeated(Vec::<u8>::new()).is_empty());
    }
}
