//! Envoy's memory, read from `/proc` without the module's help.
//!
//! V8 (Envoy's Wasm runtime) reserves 8 GiB of address space for each VM's linear memory:
//! the part the module has grown into is mapped read-write, the rest `PROT_NONE`. So each
//! VM shows in `/proc/PID/maps` as an anonymous read-write mapping directly followed by an
//! anonymous inaccessible one, the two adding up to exactly 8 GiB, and the read-write part
//! is that VM's linear memory. (Checked on Envoy 1.40 against the modules' initial memory
//! and `memory.size`: `http_headers` starts at 17 pages and shows 1,114,112 bytes.)

use std::path::Path;

/// The address space V8 reserves for one 32-bit linear memory.
const RESERVATION: u64 = 8 << 30;

/// Envoy's memory at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Each VM's linear memory in bytes, in address order.
    pub linear_memory: Vec<u64>,
    /// Envoy's resident set size in bytes.
    pub rss_bytes: u64,
}

impl Snapshot {
    /// Reads Envoy (`pid`)'s VMs and RSS.
    pub fn take(pid: u32) -> Result<Snapshot, String> {
        let proc = Path::new("/proc").join(pid.to_string());
        let maps = std::fs::read_to_string(proc.join("maps"))
            .map_err(|e| format!("cannot read Envoy's memory map: {e}"))?;
        let linear_memory = linear_memories(&maps);
        if linear_memory.is_empty() {
            return Err(format!(
                "no Wasm linear memory found in /proc/{pid}/maps (expected V8's 8 GiB reservations)"
            ));
        }
        let status = std::fs::read_to_string(proc.join("status"))
            .map_err(|e| format!("cannot read Envoy's status: {e}"))?;
        let rss_kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .ok_or("no VmRSS in Envoy's status")?;
        Ok(Snapshot {
            linear_memory,
            rss_bytes: rss_kib * 1024,
        })
    }
}

/// The read-write size of every 8 GiB reservation in a `/proc/PID/maps` text.
fn linear_memories(maps: &str) -> Vec<u64> {
    struct Mapping<'a> {
        start: u64,
        end: u64,
        perms: &'a str,
        anonymous: bool,
    }
    let mappings: Vec<Mapping> = maps
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (start, end) = fields.next()?.split_once('-')?;
            let perms = fields.next()?;
            // offset, device, inode, then the path if any.
            let path = fields.nth(3);
            Some(Mapping {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                perms,
                anonymous: path.is_none(),
            })
        })
        .collect();
    mappings
        .windows(2)
        .filter_map(|pair| {
            let (used, reserved) = (&pair[0], &pair[1]);
            let adjacent = used.end == reserved.start;
            let sizes = (used.end - used.start, reserved.end - reserved.start);
            (adjacent
                && used.anonymous
                && reserved.anonymous
                && used.perms == "rw-p"
                && reserved.perms == "---p"
                && sizes.0 + sizes.1 == RESERVATION)
                .then_some(sizes.0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_reservation() {
        let maps = "\
55d0c0000000-55d0c0100000 r-xp 00000000 08:01 42 /usr/bin/envoy
7f7b19080000-7f7b191a0000 rw-p 00000000 00:00 0
7f7b191a0000-7f7d19080000 ---p 00000000 00:00 0
7f7d00000000-7f7d00010000 rw-p 00000000 00:00 0
7f81ac0a0000-7f81ac1b0000 rw-p 00000000 00:00 0
7f81ac1b0000-7f83ac0a0000 ---p 00000000 00:00 0
7f83ac0a0000-7f83ac0b0000 ---p 00000000 00:00 0
";
        assert_eq!(linear_memories(maps), vec![18 * 65536, 17 * 65536]);
    }
}
