//! UTC calendar periods for the fake host: labels as the gateway writes them.

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// (year, month, day) to days since 1970-01-01.
fn days(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn rfc3339(day: i64) -> String {
    let (y, m, d) = civil(day);
    format!("{y:04}-{m:02}-{d:02}T00:00:00Z")
}

/// The period containing `now`: label, seconds left, end.
pub fn period(period: &str, now: u64) -> Result<(String, u64, String), String> {
    let today = (now / 86_400) as i64;
    let (y, m, d) = civil(today);
    let (label, end) = match period {
        "day" => (format!("{y:04}-{m:02}-{d:02}"), today + 1),
        "week" => {
            let monday = today - (today + 3).rem_euclid(7);
            let thursday = monday + 3;
            let (iy, _, _) = civil(thursday);
            let week = (thursday - days(iy, 1, 1)) / 7 + 1;
            (format!("{iy:04}-W{week:02}"), monday + 7)
        }
        "month" => {
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (format!("{y:04}-{m:02}"), days(ny, nm, 1))
        }
        other => return Err(format!("'{other}' is not a period: day, week or month")),
    };
    let left = (end * 86_400) as u64 - now;
    Ok((label, left, rfc3339(end)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn labels_match_the_gateways() {
        // 2026-12-03T10:00:00Z, a Thursday of ISO week 49.
        let now = 1_796_292_000;
        assert_eq!(super::period("day", now).unwrap().0, "2026-12-03");
        assert_eq!(super::period("week", now).unwrap().0, "2026-W49");
        let (label, left, end) = super::period("month", now).unwrap();
        assert_eq!(
            (label.as_str(), end.as_str()),
            ("2026-12", "2027-01-01T00:00:00Z")
        );
        assert_eq!(left, 28 * 86_400 + 14 * 3600);
        // 2027-01-01 is a Friday: ISO week 53 of 2026.
        assert_eq!(super::period("week", 1_798_761_600).unwrap().0, "2026-W53");
    }
}
