//! Panic reporting: the message of a panic inside the module reaches the page, not only "unreachable".

use js_sys::Reflect;

/// The module is built with panic = "abort": a panic ends in a trap whose JS error says only
/// "unreachable". Before that, the message goes to the console and to `beanscanPanic` on the
/// global object, where the worker reads it to tell the page what went wrong.
pub(crate) fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info.to_string();
            let _ = Reflect::set(&js_sys::global(), &"beanscanPanic".into(), &message.as_str().into());
            web_sys::console::error_1(&message.as_str().into());
            previous(info);
        }));
    });
}

/// Panics inside the module on purpose, through the same hook as any other panic: the page tests
/// use it to check that a crash is reported and the worker restarted. Only in test builds
/// (`--features test-hooks`), never in the shipped module.
#[cfg(feature = "test-hooks")]
#[wasm_bindgen::prelude::wasm_bindgen(js_name = __panicForTesting)]
pub fn panic_for_testing(message: String) {
    install_panic_hook();
    panic!("{message}");
}
