//! Calendar periods for plugins (`host::calendar-period`): the day, ISO week or month
//! that contains now in a time zone, as a label, the seconds until it ends and its end
//! — so a "monthly budget" resets at midnight on the first in the operator's zone,
//! daylight-saving changes included (jiff, with the time zone database built in).

use jiff::tz::{Offset, TimeZone};
use jiff::{ToSpan, Zoned};

/// A zone by IANA name, `UTC`, or a fixed offset (`+05:30`, `-08:00`).
pub fn zone(name: &str) -> Result<TimeZone, String> {
    let name = name.trim();
    if name.is_empty() || name.eq_ignore_ascii_case("utc") || name == "Z" {
        return Ok(TimeZone::UTC);
    }
    if let Some(rest) = name.strip_prefix(['+', '-']) {
        let sign = if name.starts_with('-') { -1 } else { 1 };
        let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
        let (h, m): (i32, i32) = match (h.parse(), m.parse()) {
            (Ok(h), Ok(m)) if h <= 14 && m < 60 => (h, m),
            _ => return Err(format!("'{name}' is not a UTC offset like +05:30")),
        };
        let secs = sign * (h * 3600 + m * 60);
        return Offset::from_seconds(secs)
            .map(TimeZone::fixed)
            .map_err(|e| e.to_string());
    }
    TimeZone::get(name)
        .map_err(|_| format!("'{name}' is not a time zone (an IANA name, UTC or +hh:mm)"))
}

/// The period of kind `period` containing `now`: (label, seconds until it ends, its end).
pub fn period_at(period: &str, now: &Zoned) -> Result<(String, u64, String), String> {
    let today = now.date();
    let (start, label, length) = match period {
        "day" => (today, today.to_string(), 1.day()),
        "week" => {
            let back = i64::from(today.weekday().to_monday_zero_offset());
            let monday = today.checked_sub(back.days()).map_err(|e| e.to_string())?;
            let iso = today.iso_week_date();
            (
                monday,
                format!("{}-W{:02}", iso.year(), iso.week()),
                1.week(),
            )
        }
        "month" => (
            today.first_of_month(),
            format!("{}-{:02}", today.year(), today.month()),
            1.month(),
        ),
        other => return Err(format!("period must be day, week or month, not '{other}'")),
    };
    let end = start
        .checked_add(length)
        .and_then(|d| d.to_zoned(now.time_zone().clone()))
        .map_err(|e| e.to_string())?;
    let left = (end.timestamp().as_second() - now.timestamp().as_second()).max(1) as u64;
    Ok((
        label,
        left,
        end.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
    ))
}

/// The period containing `secs` (unix seconds) in zone `zone`.
pub fn period_at_secs(
    period: &str,
    zone_name: &str,
    secs: u64,
) -> Result<(String, u64, String), String> {
    let tz = zone(zone_name)?;
    let at = jiff::Timestamp::from_second(secs.min(i64::MAX as u64) as i64)
        .map_err(|e| e.to_string())?;
    period_at(period, &at.to_zoned(tz))
}

/// The period containing now in zone `zone`.
pub fn period(period: &str, zone_name: &str) -> Result<(String, u64, String), String> {
    let tz = zone(zone_name)?;
    period_at(period, &Zoned::now().with_time_zone(tz))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str, tz: &str) -> Zoned {
        s.parse::<jiff::Timestamp>()
            .unwrap()
            .to_zoned(zone(tz).unwrap())
    }

    #[test]
    fn periods_end_at_the_boundary_in_their_zone() {
        // 23:30 UTC on 31 January is already February in Paris.
        let now = at("2026-01-31T23:30:00Z", "Europe/Paris");
        let (label, left, end) = period_at("month", &now).unwrap();
        assert_eq!(label, "2026-02");
        assert_eq!(end, "2026-03-01T00:00:00+01:00");
        assert_eq!(left, 27 * 86_400 + 23 * 3600 + 30 * 60);
        let (label, left, _) = period_at("month", &at("2026-01-31T23:30:00Z", "UTC")).unwrap();
        assert_eq!((label.as_str(), left), ("2026-01", 1800));
        // A day with a daylight-saving change is 23 hours long.
        let (label, left, end) =
            period_at("day", &at("2026-03-29T00:00:00Z", "Europe/Paris")).unwrap();
        assert_eq!(label, "2026-03-29");
        assert_eq!(end, "2026-03-30T00:00:00+02:00");
        assert_eq!(left, 22 * 3600);
        // ISO weeks start on Monday; 3 December 2026 is a Thursday of week 49.
        let (label, left, end) = period_at("week", &at("2026-12-03T12:00:00Z", "+05:30")).unwrap();
        assert_eq!(label, "2026-W49");
        assert_eq!(end, "2026-12-07T00:00:00+05:30");
        assert_eq!(left, 3 * 86_400 + 6 * 3600 + 30 * 60);
        assert!(period("year", "UTC").is_err());
        assert!(zone("Mars/Olympus").is_err());
        assert!(zone("+25:00").is_err());
    }
}
