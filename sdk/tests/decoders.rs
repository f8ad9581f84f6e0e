//! The decoders of what the host hands over take arbitrary bytes: they never panic, and
//! what the map codec encodes it decodes back unchanged. Property tests under plain
//! `cargo test` (256 cases each by default; `PROPTEST_CASES=100000` for a longer run).

use envoy_wasm_sdk::abi::pairs;
use envoy_wasm_sdk::properties::PropertyValue;
use envoy_wasm_sdk::query::QueryParams;
use proptest::collection::vec;
use proptest::prelude::*;
use std::time::{Duration, SystemTime};

/// Every property type the SDK decodes.
fn decode_as_every_type(bytes: &[u8]) {
    let _ = String::decode(bytes.to_vec());
    let _ = Vec::<u8>::decode(bytes.to_vec());
    let _ = i64::decode(bytes.to_vec());
    let _ = u64::decode(bytes.to_vec());
    let _ = bool::decode(bytes.to_vec());
    let _ = Duration::decode(bytes.to_vec());
    let _ = SystemTime::decode(bytes.to_vec());
    let _ = <envoy_wasm_sdk::HeaderList as PropertyValue>::decode(bytes.to_vec());
}

proptest! {
    #[test]
    fn the_map_codec_never_panics_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..2048)) {
        let _ = pairs::decode(&bytes);
    }

    #[test]
    fn the_map_codec_never_panics_on_a_count_and_lengths_it_cannot_hold(
        count in any::<u32>(),
        lengths in vec(any::<u32>(), 0..16),
        tail in vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = count.to_le_bytes().to_vec();
        for length in lengths {
            bytes.extend_from_slice(&length.to_le_bytes());
        }
        bytes.extend_from_slice(&tail);
        let _ = pairs::decode(&bytes);
    }

    #[test]
    fn what_the_map_codec_encodes_it_decodes_unchanged(
        map in vec((vec(any::<u8>(), 0..40), vec(any::<u8>(), 0..200)), 0..64),
    ) {
        let encoded = pairs::encode(&map);
        let decoded = pairs::decode(&encoded).expect("an encoded map decodes");
        let decoded: Vec<(Vec<u8>, Vec<u8>)> =
            decoded.into_iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
        prop_assert_eq!(decoded, map);
    }

    #[test]
    fn every_property_decoder_takes_arbitrary_bytes(bytes in vec(any::<u8>(), 0..64)) {
        decode_as_every_type(&bytes);
    }

    #[test]
    fn the_query_parser_never_panics_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..256)) {
        let _ = QueryParams::parse(&bytes);
        let _ = QueryParams::from_path(&bytes);
    }

    #[test]
    fn an_encoded_query_decodes_to_its_pairs_in_order(
        pairs in vec((vec(any::<u8>(), 0..12), vec(any::<u8>(), 0..12)), 0..12),
    ) {
        let encoded: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
            .collect();
        let query = QueryParams::parse(encoded.join("&").as_bytes()).expect("decodes");
        let decoded: Vec<(Vec<u8>, Vec<u8>)> =
            query.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
        prop_assert_eq!(decoded, pairs);
    }
}

/// Every byte as `%XX`: what any encoder may send.
fn percent(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

#[test]
fn integers_decode_from_exactly_eight_bytes() {
    assert_eq!(i64::decode(42i64.to_le_bytes().to_vec()), Some(42));
    assert_eq!(i64::decode(vec![1, 2, 3]), None);
    assert_eq!(Duration::decode((-1i64).to_le_bytes().to_vec()), None);
}
