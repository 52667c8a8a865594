//! The name of the snapshot a data kind takes before it is deleted.

use chrono::Utc;

/// `{name}-final-{YYYYMMDDhhmmss}` (UTC). RDS and ElastiCache snapshot names allow letters,
/// digits and single hyphens, as environment names do.
pub(crate) fn final_snapshot(name: &str) -> String {
    format!("{name}-final-{}", Utc::now().format("%Y%m%d%H%M%S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_final_snapshot_is_named_after_the_database_and_the_time() {
        let name = final_snapshot("shop-postgres");
        let stamp = name.strip_prefix("shop-postgres-final-").unwrap();
        assert_eq!(stamp.len(), 14);
        assert!(stamp.bytes().all(|b| b.is_ascii_digit()));
    }
}
