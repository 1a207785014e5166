//! The arithmetic of time-based and cross-tenant rules: windows from ISO 8601 durations,
//! time buckets, and the aggregates (with a true median).

use crate::config::{AggregateOp, RelativeTime, Timeframe};
use crate::model::Timestamp;
use chrono::{DateTime, Datelike, Months, TimeZone, Timelike, Utc};

/// An ISO 8601 duration (`P1Y2M10DT2H30M`, `P2W`, `PT0.5S`), applied on the calendar: a
/// month before March 31st is February's last day, a day is a calendar day (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsoDuration {
    months: u32,
    days: u64,
    millis: u64,
}

impl IsoDuration {
    /// Parses an ISO 8601 duration; weeks cannot be mixed with other units (as ISO 8601
    /// says), and an empty duration (`P`, `PT`) is refused.
    ///
    /// ```
    /// use chronos_db::analytics::IsoDuration;
    /// assert!(IsoDuration::parse("P1Y2M3DT4H5M6S").is_ok());
    /// assert!(IsoDuration::parse("P2W").is_ok());
    /// assert!(IsoDuration::parse("P1W2D").is_err());
    /// assert!(IsoDuration::parse("1 day").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<IsoDuration, String> {
        // Parsed here rather than with a lenient parser: `PT1D` or `P1W2D` must be refused,
        // not read as something else.
        static GRAMMAR: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(
            || {
                regex::Regex::new(
                r"^P(?:(\d+)W|(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:[.,](\d{1,9}))?S)?)?)$",
            )
            .ok()
            },
        );
        let bad = || {
            format!(
                "'{}' is not an ISO 8601 duration (e.g. PT1H, P1D, P1M, P2W)",
                crate::names::printable(text)
            )
        };
        let caps = GRAMMAR
            .as_ref()
            .and_then(|g| g.captures(text))
            .ok_or_else(bad)?;
        let has_time_part = text.contains('T');
        let number = |i: usize| -> Result<u64, String> {
            caps.get(i)
                .map(|m| m.as_str().parse::<u64>().map_err(|_| bad()))
                .unwrap_or(Ok(0))
        };
        if (1..=8).all(|i| caps.get(i).is_none())
            || (has_time_part && (5..=7).all(|i| caps.get(i).is_none()))
        {
            return Err(bad());
        }
        let fraction_millis = caps
            .get(8)
            .map(|m| {
                let digits = format!("{:0<3}", m.as_str());
                digits[..3].parse::<u64>().map_err(|_| bad())
            })
            .unwrap_or(Ok(0))?;
        let months = number(2)?.saturating_mul(12).saturating_add(number(3)?);
        Ok(IsoDuration {
            months: u32::try_from(months).map_err(|_| bad())?,
            days: number(1)?.saturating_mul(7).saturating_add(number(4)?),
            millis: number(5)?
                .saturating_mul(3_600_000)
                .saturating_add(number(6)?.saturating_mul(60_000))
                .saturating_add(number(7)?.saturating_mul(1_000))
                .saturating_add(fraction_millis),
        })
    }

    /// The time this long before `t` (months first, then days, then the time part).
    pub fn before(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let t = t
            .checked_sub_months(Months::new(self.months))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let t = t
            .checked_sub_days(chrono::Days::new(self.days))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        chrono::Duration::try_milliseconds(i64::try_from(self.millis).unwrap_or(i64::MAX))
            .and_then(|d| t.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// The interval of a schedule (an ISO 8601 duration, at least a minute), measured from now
/// (a month is a calendar month).
///
/// ```
/// use chronos_db::analytics::schedule_interval;
/// assert_eq!(schedule_interval("PT1H").unwrap().as_secs(), 3600);
/// assert!(schedule_interval("PT30S").is_err());
/// assert!(schedule_interval("hourly").is_err());
/// ```
pub fn schedule_interval(text: &str) -> Result<std::time::Duration, String> {
    let d = IsoDuration::parse(text)?;
    let now = Utc::now();
    let secs = (now - d.before(now)).num_seconds();
    if secs < 60 {
        return Err(format!(
            "'{}' is shorter than a minute",
            crate::names::printable(text)
        ));
    }
    Ok(std::time::Duration::from_secs(secs.unsigned_abs()))
}

/// The creation-time window of a rule run at `now`: items created after `from` (`newerThan`)
/// and before `to` (`olderThan`); either bound may be absent.
///
/// ```
/// use chronos_db::analytics::window;
/// use chronos_db::config::RelativeTime;
/// let now = chrono::DateTime::parse_from_rfc3339("2024-03-31T12:00:00Z").unwrap().to_utc();
/// let w = RelativeTime { newer_than: Some("P1M".into()), older_than: Some("PT1H".into()) };
/// let (from, to) = window(Some(&w), now).unwrap();
/// assert_eq!(from.unwrap().to_string(), "2024-02-29T12:00:00.000000Z");
/// assert_eq!(to.unwrap().to_string(), "2024-03-31T11:00:00.000000Z");
/// ```
pub fn window(
    relative: Option<&RelativeTime>,
    now: DateTime<Utc>,
) -> Result<(Option<Timestamp>, Option<Timestamp>), String> {
    let Some(r) = relative else {
        return Ok((None, None));
    };
    let at = |d: &Option<String>| -> Result<Option<Timestamp>, String> {
        d.as_deref()
            .map(|text| {
                IsoDuration::parse(text).map(|d| Timestamp(d.before(now).timestamp_micros()))
            })
            .transpose()
    };
    let (from, to) = (at(&r.newer_than)?, at(&r.older_than)?);
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            return Err(
                "newerThan must reach further back than olderThan (the window is empty)".into(),
            );
        }
    }
    Ok((from, to))
}

/// The start of the bucket `t` falls in: its hour, day, ISO week (Monday) or month, in UTC.
///
/// ```
/// use chronos_db::analytics::bucket_start;
/// use chronos_db::config::Timeframe;
/// use chronos_db::Timestamp;
/// let t = Timestamp::parse("2024-01-03T17:45:10Z").unwrap(); // a Wednesday
/// assert_eq!(bucket_start(t, Timeframe::Hourly).to_string(), "2024-01-03T17:00:00.000000Z");
/// assert_eq!(bucket_start(t, Timeframe::Weekly).to_string(), "2024-01-01T00:00:00.000000Z");
/// assert_eq!(bucket_start(t, Timeframe::Monthly).to_string(), "2024-01-01T00:00:00.000000Z");
/// ```
pub fn bucket_start(t: Timestamp, timeframe: Timeframe) -> Timestamp {
    let d = t.to_datetime();
    let start = match timeframe {
        Timeframe::Hourly => Utc.with_ymd_and_hms(d.year(), d.month(), d.day(), d.hour(), 0, 0),
        Timeframe::Daily => Utc.with_ymd_and_hms(d.year(), d.month(), d.day(), 0, 0, 0),
        Timeframe::Weekly => {
            let monday =
                d.date_naive() - chrono::Days::new(u64::from(d.weekday().num_days_from_monday()));
            Utc.with_ymd_and_hms(monday.year(), monday.month(), monday.day(), 0, 0, 0)
        }
        Timeframe::Monthly => Utc.with_ymd_and_hms(d.year(), d.month(), 1, 0, 0, 0),
    };
    start
        .single()
        .map(|s| Timestamp(s.timestamp_micros()))
        .unwrap_or(t)
}

/// An aggregate of numbers: `None` for an empty input (except `count`, which is 0).
///
/// ```
/// use chronos_db::analytics::aggregate;
/// use chronos_db::config::AggregateOp;
/// assert_eq!(aggregate(AggregateOp::Median, &[4.0, 1.0, 3.0, 2.0]), Some(2.5));
/// assert_eq!(aggregate(AggregateOp::Average, &[]), None);
/// assert_eq!(aggregate(AggregateOp::Count, &[]), Some(0.0));
/// ```
pub fn aggregate(op: AggregateOp, values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return (op == AggregateOp::Count).then_some(0.0);
    }
    let n = values.len() as f64;
    Some(match op {
        AggregateOp::Count => n,
        AggregateOp::Sum => values.iter().sum(),
        AggregateOp::Average => values.iter().sum::<f64>() / n,
        AggregateOp::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        AggregateOp::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        AggregateOp::Median => {
            let mut sorted = values.to_vec();
            sorted.sort_by(|a, b| a.total_cmp(b));
            let mid = sorted.len() / 2;
            if sorted.len() % 2 == 1 {
                sorted[mid]
            } else {
                (sorted[mid - 1] + sorted[mid]) / 2.0
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn huge_durations_reach_the_earliest_time_instead_of_overflowing() {
        let now = at("2024-03-31T12:00:00Z");
        for text in ["PT9999999999H", "P300000YT1S", "PT99999999999999999S"] {
            let d = IsoDuration::parse(text).unwrap();
            assert_eq!(d.before(now), DateTime::<Utc>::MIN_UTC, "{text}");
        }
        assert!(schedule_interval("PT9999999999H").is_ok());
    }

    #[test]
    fn durations_use_the_calendar_and_every_unit() {
        let now = at("2024-03-31T12:00:00Z");
        let before = |d: &str| IsoDuration::parse(d).unwrap().before(now).to_rfc3339();
        assert_eq!(before("P1M"), "2024-02-29T12:00:00+00:00");
        assert_eq!(before("P1Y"), "2023-03-31T12:00:00+00:00");
        assert_eq!(before("P2W"), "2024-03-17T12:00:00+00:00");
        assert_eq!(before("P1DT1H30M"), "2024-03-30T10:30:00+00:00");
        assert_eq!(before("PT36H"), "2024-03-30T00:00:00+00:00");
        assert_eq!(before("PT90S"), "2024-03-31T11:58:30+00:00");
        assert_eq!(before("PT0.5S"), "2024-03-31T11:59:59.500+00:00");
        for bad in [
            "", "P", "PT", "P1W1D", "1D", "P1H", "PT1D", "P-1D", "P1DT", "P1M1Y", "PT1S1M",
        ] {
            assert!(IsoDuration::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn windows_honour_both_bounds() {
        let now = at("2024-01-10T00:00:00Z");
        let both = RelativeTime {
            newer_than: Some("P7D".into()),
            older_than: Some("P1D".into()),
        };
        let (from, to) = window(Some(&both), now).unwrap();
        assert_eq!(from.unwrap().to_string(), "2024-01-03T00:00:00.000000Z");
        assert_eq!(to.unwrap().to_string(), "2024-01-09T00:00:00.000000Z");
        let empty = RelativeTime {
            newer_than: Some("P1D".into()),
            older_than: Some("P7D".into()),
        };
        assert!(window(Some(&empty), now).is_err());
        assert_eq!(window(None, now).unwrap(), (None, None));
    }

    #[test]
    fn buckets_cut_at_utc_hour_day_week_and_month_boundaries() {
        let b = |t: &str, tf| bucket_start(Timestamp::parse(t).unwrap(), tf).to_string();
        assert_eq!(
            b("2024-01-01T00:59:59.999999Z", Timeframe::Hourly),
            "2024-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            b("2024-01-01T01:00:00Z", Timeframe::Hourly),
            "2024-01-01T01:00:00.000000Z"
        );
        assert_eq!(
            b("2023-12-31T23:59:59Z", Timeframe::Daily),
            "2023-12-31T00:00:00.000000Z"
        );
        // ISO weeks start on Monday; 2023-12-31 is a Sunday in the week of Monday the 25th.
        assert_eq!(
            b("2023-12-31T23:59:59Z", Timeframe::Weekly),
            "2023-12-25T00:00:00.000000Z"
        );
        assert_eq!(
            b("2024-01-01T00:00:00Z", Timeframe::Weekly),
            "2024-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            b("2024-02-29T13:00:00+02:00", Timeframe::Monthly),
            "2024-02-01T00:00:00.000000Z"
        );
        assert_eq!(
            b("2024-03-01T00:30:00+02:00", Timeframe::Monthly),
            "2024-02-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn aggregates_include_a_true_median() {
        assert_eq!(aggregate(AggregateOp::Median, &[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(aggregate(AggregateOp::Median, &[1.0, 100.0]), Some(50.5));
        assert_eq!(
            aggregate(AggregateOp::Median, &[1.0, 2.0, 2.0, 100.0]),
            Some(2.0)
        );
        assert_eq!(aggregate(AggregateOp::Min, &[3.0, -1.0]), Some(-1.0));
        assert_eq!(aggregate(AggregateOp::Max, &[3.0, -1.0]), Some(3.0));
        assert_eq!(aggregate(AggregateOp::Sum, &[0.5, 0.25]), Some(0.75));
        assert_eq!(aggregate(AggregateOp::Median, &[]), None);
    }
}
