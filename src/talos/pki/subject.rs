//! Subjects with several organizations (Kubernetes groups are certificate `O` values).
//!
//! rcgen keeps one value per attribute type, so a certificate with several organizations is
//! issued by rcgen with a one-organization subject, then its subject is replaced in the
//! to-be-signed bytes and the result signed again with the CA key. Each organization becomes
//! its own RDN, as OpenSSL writes repeated attributes.

use super::Error;

const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OID: u8 = 0x06;
const TAG_UTF8_STRING: u8 = 0x0c;
/// DER of OID 2.5.4.3 (commonName) and 2.5.4.10 (organizationName), without tag and length.
const OID_COMMON_NAME: [u8; 3] = [0x55, 0x04, 0x03];
const OID_ORGANIZATION: [u8; 3] = [0x55, 0x04, 0x0a];

/// One DER element: tag, definite length, content.
fn element(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let length = content.len();
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes = length.to_be_bytes();
        let significant: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        out.push(0x80 | significant.len() as u8);
        out.extend(significant);
    }
    out.extend_from_slice(content);
    out
}

/// `(header length, content length)` of the DER element at the start of `bytes`.
fn header(bytes: &[u8]) -> Option<(usize, usize)> {
    let first = *bytes.get(1)?;
    if first < 0x80 {
        return Some((2, usize::from(first)));
    }
    let count = usize::from(first & 0x7f);
    if count == 0 || count > 4 {
        return None;
    }
    let length = bytes
        .get(2..2 + count)?
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Some((2 + count, length))
}

/// Splits off the first complete DER element of `bytes`.
fn split_element(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (head, length) = header(bytes)?;
    let end = head.checked_add(length)?;
    (end <= bytes.len()).then(|| bytes.split_at(end))
}

fn attribute(oid: &[u8], value: &str) -> Vec<u8> {
    let mut pair = element(TAG_OID, oid);
    pair.extend(element(TAG_UTF8_STRING, value.as_bytes()));
    element(TAG_SET, &element(TAG_SEQUENCE, &pair))
}

/// DER `Name`: one RDN per organization, then the common name (Go's order: O before CN).
pub(super) fn encode(common_name: Option<&str>, organizations: &[String]) -> Vec<u8> {
    let mut rdns = Vec::new();
    for organization in organizations {
        rdns.extend(attribute(&OID_ORGANIZATION, organization));
    }
    if let Some(common_name) = common_name {
        rdns.extend(attribute(&OID_COMMON_NAME, common_name));
    }
    element(TAG_SEQUENCE, &rdns)
}

/// Replaces the subject of `certificate` (DER) with `subject` (DER `Name`) and re-signs it
/// with `signer`, which must be the key that signed it.
pub(super) fn replace(
    certificate: &[u8],
    subject: &[u8],
    signer: &impl rcgen::SigningKey,
) -> Result<Vec<u8>, Error> {
    let malformed = || Error::InvalidCertificate {
        reason: "cannot re-encode the certificate subject".into(),
    };
    let (certificate_head, _) = header(certificate).ok_or_else(malformed)?;
    let body = &certificate[certificate_head..];
    let (tbs, rest) = split_element(body).ok_or_else(malformed)?;
    let (signature_algorithm, _) = split_element(rest).ok_or_else(malformed)?;

    let (tbs_head, _) = header(tbs).ok_or_else(malformed)?;
    let mut remaining = &tbs[tbs_head..];
    let mut fields = Vec::new();
    // version, serialNumber, signature, issuer, validity, then the subject.
    for _ in 0..5 {
        let (field, next) = split_element(remaining).ok_or_else(malformed)?;
        fields.extend_from_slice(field);
        remaining = next;
    }
    let (_, after_subject) = split_element(remaining).ok_or_else(malformed)?;
    fields.extend_from_slice(subject);
    fields.extend_from_slice(after_subject);
    let new_tbs = element(TAG_SEQUENCE, &fields);

    let signature = signer
        .sign(&new_tbs)
        .map_err(|source| Error::Certificate { source })?;
    let mut bit_string = vec![0u8];
    bit_string.extend(signature);
    let mut out = new_tbs;
    out.extend_from_slice(signature_algorithm);
    out.extend(element(TAG_BIT_STRING, &bit_string));
    Ok(element(TAG_SEQUENCE, &out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lengths_use_the_long_form() {
        assert_eq!(element(0x04, &[1; 3]), [0x04, 3, 1, 1, 1]);
        let long = element(0x04, &[0; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(header(&long), Some((4, 300)));
        assert_eq!(
            split_element(&long).map(|(a, b)| (a.len(), b.len())),
            Some((304, 0))
        );
    }

    #[test]
    fn names_parse_back_with_every_organization() {
        let der = encode(Some("ci"), &["a".into(), "b".into(), "c".into()]);
        let (_, name) = <x509_parser::x509::X509Name as x509_parser::prelude::FromDer<
            x509_parser::error::X509Error,
        >>::from_der(&der)
        .unwrap();
        let organizations: Vec<_> = name
            .iter_organization()
            .map(|o| o.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(organizations, ["a", "b", "c"]);
        assert_eq!(
            name.iter_common_name().next().unwrap().as_str().unwrap(),
            "ci"
        );
    }
}
