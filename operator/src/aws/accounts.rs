//! AWS account ids: reading them from role ARNs and from the server's allow-list. Pure code;
//! the check itself runs in [`ClientPool`](super::ClientPool), before any role is assumed.

/// Twelve ASCII digits.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// `text` (surrounding spaces ignored) as an account id; for command-line and config parsers.
pub fn parse_account_id(text: &str) -> Result<String, String> {
    let id = text.trim();
    if is_account_id(id) {
        Ok(id.to_owned())
    } else {
        Err(format!("{text:?} is not an AWS account id (12 digits)"))
    }
}

/// The account of an IAM role ARN, `arn:{partition}:iam::{account}:role/{path}{name}`, in any
/// partition; `None` for anything else.
pub fn role_account(role_arn: &str) -> Option<&str> {
    let mut parts = role_arn.splitn(6, ':');
    let mut next = || parts.next().unwrap_or_default();
    let (arn, partition, service, region, account, resource) =
        (next(), next(), next(), next(), next(), next());
    let role = arn == "arn"
        && !partition.is_empty()
        && service == "iam"
        && region.is_empty()
        && is_account_id(account)
        && resource.len() > "role/".len()
        && resource.starts_with("role/");
    role.then_some(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_of_a_role_in_any_partition() {
        for (arn, account) in [
            ("arn:aws:iam::123456789012:role/plumb", "123456789012"),
            (
                "arn:aws:iam::123456789012:role/team/shop/plumb",
                "123456789012",
            ),
            ("arn:aws-cn:iam::210987654321:role/plumb", "210987654321"),
            (
                "arn:aws-us-gov:iam::000000000001:role/plumb",
                "000000000001",
            ),
        ] {
            assert_eq!(role_account(arn), Some(account), "{arn}");
        }
    }

    #[test]
    fn anything_but_a_role_arn_has_no_account() {
        for arn in [
            "",
            "123456789012",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:user/plumb",
            "arn:aws:iam::12345678901:role/plumb",
            "arn:aws:iam::1234567890123:role/plumb",
            "arn:aws:iam::12345678901a:role/plumb",
            "arn:aws:iam:us-east-1:123456789012:role/plumb",
            "arn:aws:sts::123456789012:role/plumb",
            "arn::iam::123456789012:role/plumb",
            "aws:iam::123456789012:role/plumb",
            "arn:aws:iam::١٢٣٤٥٦٧٨٩٠١٢:role/plumb",
        ] {
            assert_eq!(role_account(arn), None, "{arn}");
        }
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        assert_eq!(
            parse_account_id(" 111111111111 "),
            Ok("111111111111".to_owned())
        );
        for bad in [
            "",
            "11111111111",
            "1111111111111",
            "11111111111x",
            "arn:aws",
        ] {
            let err = parse_account_id(bad).expect_err(bad);
            assert!(err.contains("12 digits"), "{err}");
        }
    }
}
