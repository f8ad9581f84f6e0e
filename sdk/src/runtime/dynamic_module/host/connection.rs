//! Connections (network filters): their data, closing and resuming them, their addresses.
//!
//! The client's data (proxy-wasm's downstream data) is Envoy's read buffer, the upstream's
//! (upstream data) its write buffer, each valid in its own hook.

use super::*;

/// What a network filter asks of its connection from inside one of its hooks, done once the
/// hook returns, as Envoy defers a Wasm filter's: closing inside the hook would run the
/// close's hook inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Deferred {
    Close,
    ContinueReading,
}

impl NativeHost {
    /// A connection's hook starts.
    pub(crate) fn begin_hook(&self) {
        self.hook_depth.set(self.hook_depth.get() + 1);
    }

    /// A connection's hook returned: once the outermost has, what any filter asked of a
    /// connection meanwhile is done, in order (as Envoy defers a Wasm filter's until the
    /// VM call returns).
    pub(crate) fn end_hook(&self) {
        let depth = self.hook_depth.get().saturating_sub(1);
        self.hook_depth.set(depth);
        if depth > 0 {
            return;
        }
        let due = std::mem::take(&mut *self.deferred.borrow_mut());
        for (filter, action) in due {
            self.act(filter, action);
        }
    }

    /// Forgets what connection `filter` asked for (it is gone).
    pub(crate) fn forget_connection(&self, filter: NetworkFilterEnvoyPtr) {
        self.deferred
            .borrow_mut()
            .retain(|(connection, _)| *connection != filter);
    }

    /// Closes connection `filter` at once (what was written is flushed first), as Envoy
    /// closes a failed Wasm filter's.
    pub(crate) fn close_now(&self, filter: NetworkFilterEnvoyPtr) {
        self.act(filter, Deferred::Close);
    }

    /// Does `action` now, or, while a connection's hook runs, when the outermost returns.
    fn request(&self, filter: NetworkFilterEnvoyPtr, action: Deferred) -> bool {
        if self.hook_depth.get() > 0 {
            let mut deferred = self.deferred.borrow_mut();
            if !deferred.contains(&(filter, action)) {
                deferred.push((filter, action));
            }
            match action {
                Deferred::Close => callbacks().network_filter_close.is_some(),
                Deferred::ContinueReading => callbacks().network_filter_continue_reading.is_some(),
            }
        } else {
            self.act(filter, action)
        }
    }

    fn act(&self, filter: NetworkFilterEnvoyPtr, action: Deferred) -> bool {
        match action {
            Deferred::Close => {
                envoy!(network_filter_close(filter, dm::close_type::FLUSH_WRITE)).is_some()
            }
            Deferred::ContinueReading => envoy!(network_filter_continue_reading(filter)).is_some(),
        }
    }

    /// Asks for `action` on the current connection: a close (`proxy_close_stream` of the
    /// downstream or upstream), or the client's held bytes to go on (`proxy_continue_stream`
    /// of the downstream).
    pub(super) fn act_on_connection(&self, action: Deferred) -> u32 {
        let Some(filter) = self.connection() else {
            return NOT_FOUND;
        };
        if self.request(filter, action) {
            OK
        } else {
            UNIMPLEMENTED
        }
    }

    /// The slices of the current connection's read buffer (`upstream` false) or write buffer.
    fn data_chunks(&self, filter: NetworkFilterEnvoyPtr, upstream: bool) -> Vec<EnvoyBuffer> {
        let count = if upstream {
            envoy!(network_filter_get_write_buffer_chunks_size(filter))
        } else {
            envoy!(network_filter_get_read_buffer_chunks_size(filter))
        }
        .unwrap_or(0);
        let mut chunks = vec![EnvoyBuffer::EMPTY; count];
        let filled = count == 0
            || if upstream {
                envoy!(network_filter_get_write_buffer_chunks(
                    filter,
                    chunks.as_mut_ptr()
                ))
            } else {
                envoy!(network_filter_get_read_buffer_chunks(
                    filter,
                    chunks.as_mut_ptr()
                ))
            } == Some(true);
        if !filled {
            chunks.clear();
        }
        chunks
    }

    /// The current connection's data of direction `upstream` (the client's when false).
    pub(super) fn data(&self, upstream: bool) -> Option<Vec<u8>> {
        let filter = self.connection()?;
        Some(super::buffers::gather(&self.data_chunks(filter, upstream)))
    }

    /// How many bytes the current connection's data of direction `upstream` has.
    pub(super) fn data_size(&self, upstream: bool) -> Option<usize> {
        let filter = self.connection()?;
        Some(
            if upstream {
                envoy!(network_filter_get_write_buffer_size(filter))
            } else {
                envoy!(network_filter_get_read_buffer_size(filter))
            }
            .unwrap_or(0),
        )
    }

    /// Changes the current connection's data of direction `upstream` as Envoy does a Wasm
    /// filter's: from the start, the first `size` bytes are replaced by `data` (`size` 0
    /// prepends); from the end or past it, `data` is appended; anything else is refused.
    pub(super) fn set_data(&self, upstream: bool, start: usize, size: usize, data: &[u8]) -> u32 {
        let Some(filter) = self.connection() else {
            return NOT_FOUND;
        };
        let held = self.data_size(upstream).unwrap_or(0);
        let buffer = ModuleBuffer::of(data);
        let done = if start == 0 {
            let drain = size.min(held);
            let drained = drain == 0
                || if upstream {
                    envoy!(network_filter_drain_write_buffer(filter, drain))
                } else {
                    envoy!(network_filter_drain_read_buffer(filter, drain))
                } == Some(true);
            drained
                && (data.is_empty()
                    || if upstream {
                        envoy!(network_filter_prepend_write_buffer(filter, buffer))
                    } else {
                        envoy!(network_filter_prepend_read_buffer(filter, buffer))
                    } == Some(true))
        } else if start >= held {
            data.is_empty()
                || if upstream {
                    envoy!(network_filter_append_write_buffer(filter, buffer))
                } else {
                    envoy!(network_filter_append_read_buffer(filter, buffer))
                } == Some(true)
        } else {
            return BAD_ARGUMENT;
        };
        if done { OK } else { BAD_ARGUMENT }
    }

    /// A property of the current connection Envoy's network filter answers itself (the
    /// addresses, the connection's id, the server name); `None` for the others.
    pub(super) fn connection_property(&self, path: &[&[u8]]) -> Option<Option<Vec<u8>>> {
        let filter = self.connection()?;
        let address = |local: bool| {
            let mut address = EnvoyBuffer::EMPTY;
            let mut port = 0u32;
            let found = if local {
                envoy!(network_filter_get_local_address(
                    filter,
                    &mut address,
                    &mut port
                ))
            } else {
                envoy!(network_filter_get_remote_address(
                    filter,
                    &mut address,
                    &mut port
                ))
            };
            // SAFETY: Envoy filled `address` in the current hook.
            (found == Some(true)).then(|| (unsafe { address.bytes() }.to_vec(), port))
        };
        // As Envoy writes a socket address: `ip:port`, `[ip]:port` for IPv6.
        let joined = |(ip, port): (Vec<u8>, u32)| {
            let ip = String::from_utf8_lossy(&ip).into_owned();
            let text = if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            };
            text.into_bytes()
        };
        let port = |(_, port): (Vec<u8>, u32)| u64::from(port).to_le_bytes().to_vec();
        Some(match path {
            [b"source", b"address"] => address(false).map(joined),
            [b"source", b"port"] => address(false).map(port),
            [b"destination", b"address"] => address(true).map(joined),
            [b"destination", b"port"] => address(true).map(port),
            [b"connection", b"id"] => {
                envoy!(network_filter_get_connection_id(filter)).map(|id| id.to_le_bytes().to_vec())
            }
            [b"connection", b"requested_server_name"] => {
                let mut name = EnvoyBuffer::EMPTY;
                (envoy!(network_filter_get_requested_server_name(filter, &mut name)) == Some(true))
                    // SAFETY: Envoy filled `name` in the current hook.
                    .then(|| unsafe { name.bytes() }.to_vec())
            }
            _ => return None,
        })
    }
}
