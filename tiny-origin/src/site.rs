//! The built-in static site, generated in code (no course files are copied).
//!
//! It plays the part of the files next to the lab's `tiny` binary
//! (`home.html`, `godzilla.gif`, ...) that Tiny's `serve_static` sends, plus a
//! large binary file meant to catch proxies that truncate bodies at `NUL`
//! bytes or at header-like `\r\n\r\n` sequences.

/// The exact request paths of the built-in static site, in a stable order.
///
/// `/` and `/home.html` are the same page.
pub const STATIC_PATHS: &[&str] = &[
    "/",
    "/home.html",
    "/notes.txt",
    "/style.css",
    "/images/logo.gif",
    "/big.bin",
];

/// Length in bytes of `/big.bin` (larger than 100 KiB on purpose).
pub const BIG_BIN_LEN: usize = 300_000;

/// One file of the built-in static site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteFile {
    /// Request path, e.g. `/images/logo.gif`.
    pub path: &'static str,
    /// Value of the `Content-Type` response header, e.g. `image/gif`.
    pub content_type: &'static str,
    /// The exact response body.
    pub body: Vec<u8>,
}

/// Every file of the built-in site, one entry per path of [`STATIC_PATHS`]
/// (in that order).
#[must_use]
pub fn site() -> Vec<SiteFile> {
    STATIC_PATHS
        .iter()
        .filter_map(|path| site_file(path))
        .collect()
}

/// The built-in file served at `path` (exact match, no query string), if any.
#[must_use]
pub fn site_file(path: &str) -> Option<SiteFile> {
    let (path, content_type, body): (&'static str, &'static str, Vec<u8>) = match path {
        "/" => ("/", "text/html", home_html().into_bytes()),
        "/home.html" => ("/home.html", "text/html", home_html().into_bytes()),
        "/notes.txt" => ("/notes.txt", "text/plain", NOTES_TXT.as_bytes().to_vec()),
        "/style.css" => ("/style.css", "text/css", STYLE_CSS.as_bytes().to_vec()),
        "/images/logo.gif" => ("/images/logo.gif", "image/gif", logo_gif()),
        "/big.bin" => ("/big.bin", "application/octet-stream", big_bin()),
        _ => return None,
    };
    Some(SiteFile {
        path,
        content_type,
        body,
    })
}

/// The home page (`/` and `/home.html`): shows the logo and links every
/// other page and the adder.
#[must_use]
pub fn home_html() -> String {
    "<!DOCTYPE html>\n\
     <html>\n\
     <head>\n\
     <title>tiny-origin test server</title>\n\
     <link rel=\"stylesheet\" href=\"/style.css\">\n\
     </head>\n\
     <body>\n\
     <h1>tiny-origin</h1>\n\
     <img src=\"/images/logo.gif\" alt=\"tiny-origin logo\" width=\"64\" height=\"64\">\n\
     <p>An origin server for exercising Proxy Lab proxies.</p>\n\
     <ul>\n\
     <li><a href=\"/notes.txt\">notes.txt</a> (text/plain)</li>\n\
     <li><a href=\"/style.css\">style.css</a> (text/css)</li>\n\
     <li><a href=\"/images/logo.gif\">images/logo.gif</a> (image/gif)</li>\n\
     <li><a href=\"/big.bin\">big.bin</a> (300000 bytes, application/octet-stream)</li>\n\
     <li><a href=\"/cgi-bin/adder?15213&amp;18213\">/cgi-bin/adder?15213&amp;18213</a></li>\n\
     <li><a href=\"/echo\">/echo</a> (shows the request head the server received)</li>\n\
     <li><a href=\"/bytes/1024\">/bytes/1024</a></li>\n\
     <li><a href=\"/slow/4096\">/slow/4096</a></li>\n\
     <li><a href=\"/status/404\">/status/404</a></li>\n\
     </ul>\n\
     </body>\n\
     </html>\n"
        .to_owned()
}

/// Body of `/notes.txt`.
pub const NOTES_TXT: &str = "tiny-origin notes\n\
     =================\n\
     This file is served as text/plain by the built-in static site.\n\
     A caching proxy should serve the second request for it from its cache.\n\
     Line five ends here.\n";

/// Body of `/style.css`.
pub const STYLE_CSS: &str = "body { font-family: sans-serif; margin: 2em; background: #ffffff; }\n\
     h1 { color: #1a3c8c; }\n\
     img { image-rendering: pixelated; border: 1px solid #cccccc; }\n\
     a { color: #c0392b; }\n";

/// The logo: a 16×16, 4-colour GIF (a blue "T" in a red frame), generated
/// once and kept in the repository.
const LOGO_GIF: &[u8] = include_bytes!("../site/logo.gif");

/// The bytes of `/images/logo.gif`.
#[must_use]
pub fn logo_gif() -> Vec<u8> {
    LOGO_GIF.to_vec()
}

/// The deterministic [`BIG_BIN_LEN`]-byte body of `/big.bin`.
///
/// It is built from repeated segments, each holding a rotated ramp of all 256
/// byte values (so `0x00` everywhere), a blank-line `\r\n\r\n`, a fake
/// response head, and some pseudo-random bytes. A proxy that stops at a `NUL`,
/// re-parses the body as headers, or mangles binary data gets it wrong.
#[must_use]
pub fn big_bin() -> Vec<u8> {
    let mut out = Vec::with_capacity(BIG_BIN_LEN + 4096);
    let mut rng = fastrand::Rng::with_seed(0x2545_f491);
    // The ramp of segment `n` is rotated by `n % 256`.
    let mut rot: u8 = 0;
    while out.len() < BIG_BIN_LEN {
        out.extend((0..=255u8).map(|b| b.wrapping_add(rot)));
        out.extend_from_slice(b"\r\n\r\n");
        out.push(0);
        out.extend_from_slice(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        out.extend((0..1000).map(|_| rng.u8(..)));
        rot = rot.wrapping_add(1);
    }
    out.truncate(BIG_BIN_LEN);
    out
}

/// Body of the adder's answer, as the lab's `cgi-bin/adder` prints it:
/// `Welcome to add.com: THE Internet addition portal.\r\n<p>The answer is: A + B = SUM\r\n<p>Thanks for visiting!\r\n`.
#[must_use]
pub fn adder_body(a: i64, b: i64) -> String {
    let sum = i128::from(a) + i128::from(b);
    format!(
        "Welcome to add.com: THE Internet addition portal.\r\n\
         <p>The answer is: {a} + {b} = {sum}\r\n\
         <p>Thanks for visiting!\r\n"
    )
}

/// Escapes `&`, `<`, `>`, `"` and `'` for inclusion in HTML text.
#[must_use]
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// An HTML error page in the style of Tiny's `clienterror`: the status code
/// and a short message, a longer message naming `cause`, and a footer.
///
/// The messages are inserted as given (they are HTML); `cause` (usually the
/// request path) is escaped.
#[must_use]
pub fn error_page(code: u16, short_msg: &str, long_msg: &str, cause: &str) -> String {
    format!(
        "<html><title>tiny-origin error</title><body bgcolor=\"ffffff\">\r\n\
         {code}: {short}\r\n\
         <p>{long}: {cause}\r\n\
         <hr><em>tiny-origin, a Tiny-like test server</em>\r\n\
         </body></html>\r\n",
        short = short_msg,
        long = long_msg,
        cause = html_escape(cause),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_covers_static_paths() {
        let files = site();
        let paths: Vec<&str> = files.iter().map(|f| f.path).collect();
        assert_eq!(paths, STATIC_PATHS);
        assert_eq!(site_file("/nope"), None);
    }

    #[test]
    fn home_references_logo_and_adder() {
        let home = home_html();
        assert!(home.contains("<img src=\"/images/logo.gif\""));
        assert!(home.contains("/cgi-bin/adder?15213&amp;18213"));
    }

    #[test]
    fn big_bin_is_nasty() {
        let big = big_bin();
        assert_eq!(big.len(), BIG_BIN_LEN);
        assert!(big.len() > 100 * 1024);
        let mut seen = [false; 256];
        for b in &big {
            seen[usize::from(*b)] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert!(big.windows(4).any(|w| w == b"\r\n\r\n"));
        assert_eq!(big, big_bin(), "deterministic");
    }

    /// The logo's colour index at (`x`, `y`): a red border, a blue "T" on
    /// white, a yellow dot.
    fn logo_pixel(x: u16, y: u16) -> u8 {
        if x == 0 || y == 0 || x == 15 || y == 15 {
            2
        } else if ((3..=12).contains(&x) && (3..=4).contains(&y))
            || ((7..=8).contains(&x) && (5..=12).contains(&y))
        {
            1
        } else if (11..=12).contains(&x) && (11..=12).contains(&y) {
            3
        } else {
            0
        }
    }

    #[test]
    fn logo_decodes() {
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::Indexed);
        let mut decoder = options
            .read_info(std::io::Cursor::new(logo_gif()))
            .expect("a GIF");
        let frame = decoder
            .read_next_frame()
            .expect("decodes")
            .expect("one frame");
        assert_eq!((frame.width, frame.height), (16, 16));
        let expected: Vec<u8> = (0..16u16)
            .flat_map(|y| (0..16u16).map(move |x| logo_pixel(x, y)))
            .collect();
        assert_eq!(frame.buffer.to_vec(), expected);
    }

    #[test]
    fn adder_matches_lab_text() {
        assert_eq!(
            adder_body(15213, 18213),
            "Welcome to add.com: THE Internet addition portal.\r\n<p>The answer is: 15213 + 18213 = 33426\r\n<p>Thanks for visiting!\r\n"
        );
    }
}
