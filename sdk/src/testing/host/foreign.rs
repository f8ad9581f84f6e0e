//! Foreign functions.

use super::*;

impl ForeignHost for EmulatorHost {
    fn proxy_call_foreign_function(&self, call: proxy_call_foreign_function::Args<'_>) -> u32 {
        let name = String::from_utf8_lossy(call.name).into_owned();
        // Taken out while it runs, so it may not re-enter the host through this state.
        let Some(mut function) = self.state.borrow_mut().foreign.remove(&name) else {
            return NOT_FOUND;
        };
        let result = function(call.arguments);
        self.state.borrow_mut().foreign.insert(name, function);
        match result {
            Ok(results) => {
                *call.return_results = results;
                OK
            }
            Err(status) => status.raw(),
        }
    }
}
