//! QR codes as inline SVG (one path, no script, no style attribute: allowed by the pages' CSP).

use qrcodegen::{QrCode, QrCodeEcc};

/// The SVG of a QR code of `text`, with `label` as its accessible name; `None` when the text is too long for
/// a QR code.
pub(crate) fn svg(text: &str, label: &str) -> Option<String> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let size = qr.size();
    let border = 4;
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    let dim = size + 2 * border;
    Some(format!(
        "<svg class=\"qr\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {dim} {dim}\" role=\"img\" \
         aria-label=\"{label}\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" \
         fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>",
        label = crate::html::esc(label),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_a_qr_code() {
        let svg = super::svg(
            "otpauth://totp/Warden:alice?secret=JBSWY3DPEHPK3PXP",
            "QR \"code\"",
        )
        .unwrap_or_default();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("aria-label=\"QR &quot;code&quot;\""));
        assert!(svg.matches('M').count() > 100, "modules are drawn");
    }
}
