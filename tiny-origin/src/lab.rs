//! The lab's objects: what the course's `driver.sh` fetches, in kind and
//! size, as content generated here (no course file is copied).
//!
//! driver.sh's Basic section fetches five files from Tiny's directory —
//! an HTML page, two C source files (text), a JPEG image and the `tiny`
//! executable itself — its Cache section fetches three of them, and both
//! compare what `curl` saved with a direct fetch. [`LAB_OBJECTS`] plays
//! those parts; [`CACHE_OBJECTS`] and [`FETCH_OBJECT`] are driver.sh's
//! `CACHE_LIST` and `FETCH_FILE`. Every object is under the lab's
//! 100 KiB `MAX_OBJECT_SIZE`, as the driver's are.

use std::fmt::Write as _;

use crate::site::{SiteFile, home_html};

/// The photo (a small JPEG), generated once and kept in the repository.
const PHOTO_JPG: &[u8] = include_bytes!("../site/photo.jpg");

/// Length of [`sample_source`]`("rio.c")`: about driver.sh's `csapp.c`.
pub const RIO_C_LEN: usize = 24_100;
/// Length of [`sample_source`]`("echo.c")`: about driver.sh's `tiny.c`.
pub const ECHO_C_LEN: usize = 8_600;
/// Length of [`sample_executable`]: about driver.sh's compiled `tiny`.
pub const EXECUTABLE_LEN: usize = 40_000;

/// The Basic section's objects, in driver.sh's order: the page, the big
/// source file, the small one, the image, the executable.
pub const LAB_OBJECTS: [&str; 5] = [
    "/home.html",
    "/src/rio.c",
    "/src/echo.c",
    "/images/photo.jpg",
    "/bin/echoserver",
];

/// The Cache section's warm-up fetches, in driver.sh's order.
pub const CACHE_OBJECTS: [&str; 3] = ["/src/echo.c", "/home.html", "/src/rio.c"];

/// The object the Concurrency and Cache sections fetch once more.
pub const FETCH_OBJECT: &str = "/home.html";

/// Every lab object, with the content type Tiny's `get_filetype` gives it
/// (`.c` and a name without extension fall through to `text/plain`).
#[must_use]
pub fn lab_files() -> Vec<SiteFile> {
    vec![
        SiteFile {
            path: "/home.html",
            content_type: "text/html",
            body: home_html().into_bytes(),
        },
        SiteFile {
            path: "/src/rio.c",
            content_type: "text/plain",
            body: sample_source("rio.c", RIO_C_LEN),
        },
        SiteFile {
            path: "/src/echo.c",
            content_type: "text/plain",
            body: sample_source("echo.c", ECHO_C_LEN),
        },
        SiteFile {
            path: "/images/photo.jpg",
            content_type: "image/jpeg",
            body: PHOTO_JPG.to_vec(),
        },
        SiteFile {
            path: "/bin/echoserver",
            content_type: "text/plain",
            body: sample_executable(),
        },
    ]
}

/// A C-looking text file of exactly `len` bytes: a header comment, then
/// small generated functions, one per line group. Deterministic.
#[must_use]
pub fn sample_source(name: &str, len: usize) -> Vec<u8> {
    let mut text = format!(
        "/*\n * {name} - generated sample source served by tiny-origin for the\n \
         * Proxy Lab harness. It is text, like the C files driver.sh fetches.\n \
         */\n#include <stdio.h>\n#include <stdlib.h>\n\n"
    );
    let mut rng = fastrand::Rng::with_seed(len as u64);
    let mut n = 0u32;
    while text.len() < len {
        n += 1;
        let (a, b) = (rng.u32(2..1000), rng.u32(1..10_000));
        let _ = write!(
            text,
            "/* step {n}: scale and wrap */\nint sample_{n:04}(int x)\n{{\n    return (x * {a} + {b}) % 9973;\n}}\n\n"
        );
    }
    let mut bytes = text.into_bytes();
    bytes.truncate(len);
    if let Some(last) = bytes.last_mut() {
        *last = b'\n';
    }
    bytes
}

/// An executable-looking binary of [`EXECUTABLE_LEN`] bytes: an ELF-like
/// header, long runs of `NUL`s, pseudo-random code bytes, and the string
/// table a compiled Tiny carries (HTTP status lines and header formats
/// with their `\r\n\r\n`). A proxy that treats bodies as C strings, or
/// looks for the end of the head inside the body, gets it wrong.
#[must_use]
pub fn sample_executable() -> Vec<u8> {
    const STRINGS: &[&[u8]] = &[
        b"HTTP/1.0 200 OK\r\n\0",
        b"Server: Tiny Web Server\r\n\0",
        b"Content-length: %d\r\n\0",
        b"Content-type: %s\r\n\r\n\0",
        b"GET %s HTTP/1.0\r\n\r\n\0",
        b"usage: %s <port>\n\0",
        b"Accepted connection from (%s, %s)\n\0",
    ];
    let mut rng = fastrand::Rng::with_seed(15_213);
    let mut out = Vec::with_capacity(EXECUTABLE_LEN);
    out.extend_from_slice(b"\x7fELF\x02\x01\x01\0");
    out.resize(64, 0);
    while out.len() < EXECUTABLE_LEN {
        // A section of "code", then padding, then the string table.
        let code = rng.usize(1_000..4_000);
        out.extend((0..code).map(|_| rng.u8(..)));
        out.resize(out.len() + rng.usize(16..512), 0);
        for s in STRINGS {
            out.extend_from_slice(s);
        }
    }
    out.truncate(EXECUTABLE_LEN);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_the_driver_s_kinds_and_sizes() {
        let files = lab_files();
        let paths: Vec<&str> = files.iter().map(|f| f.path).collect();
        assert_eq!(paths, LAB_OBJECTS);
        for f in &files {
            assert!(f.body.len() < 100 * 1024, "{} is {}", f.path, f.body.len());
            assert!(!f.body.is_empty());
        }
        for path in CACHE_OBJECTS.iter().chain([&FETCH_OBJECT]) {
            assert!(LAB_OBJECTS.contains(path), "{path}");
        }
        let exe = &files[4].body;
        assert_eq!(exe.len(), EXECUTABLE_LEN);
        assert!(exe.contains(&0));
        assert!(exe.windows(4).any(|w| w == b"\r\n\r\n"));
        assert_eq!(files[1].body.len(), RIO_C_LEN);
        assert_eq!(files[2].body.len(), ECHO_C_LEN);
        assert!(files[1].body.iter().all(|b| b.is_ascii() && *b != 0));
        assert_eq!(&files[3].body[..3], b"\xff\xd8\xff", "a JPEG");
        assert_eq!(lab_files(), files, "deterministic");
    }
}
