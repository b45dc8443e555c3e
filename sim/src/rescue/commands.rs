//! The commands of the rescue system that the sim models: `blkdiscard`, `wget`, `xz`, `dd`,
//! `sync`, `shutdown`/`poweroff`/`halt -p`/`reboot`, `true`, `false`, `echo`, `uname`, `lsblk`.
//! Their options, messages and exit statuses are those of the Debian tools in Hetzner's rescue
//! system (GNU wget, xz-utils, coreutils dd, util-linux); what they do not model they refuse.
//! Anything else is `command not found` (127).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::shell::{Commands, Output, Ran};
use crate::world::disk::recognise;
use crate::world::{Disk, World};

/// The system disk's device name in Hetzner's rescue system.
pub const SYSTEM_DISK: &str = "/dev/sda";

/// One boot of one server's rescue system, as its commands see it.
#[derive(Clone)]
pub struct Machine {
    /// The world.
    pub world: Arc<RwLock<World>>,
    /// The server.
    pub server: i64,
    /// The rescue boot (writes after this boot ended are lost).
    pub boot: i64,
    /// `x86` or `arm`.
    pub arch: &'static str,
    /// Takes the machine down (`true`: reboot, `false`: power off).
    pub down: Arc<dyn Fn(bool) + Send + Sync>,
}

fn ok(stdout: impl Into<Vec<u8>>) -> Ran {
    Ran {
        output: Output {
            stdout: stdout.into(),
            stderr: Vec::new(),
            status: 0,
        },
        down: false,
    }
}

fn fail(status: u32, stderr: impl Into<String>) -> Ran {
    Ran {
        output: Output {
            stdout: Vec::new(),
            stderr: stderr.into().into_bytes(),
            status,
        },
        down: false,
    }
}

impl Commands for Machine {
    fn run<'a>(
        &'a self,
        argv: &'a [String],
        stdin: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Ran> + Send + 'a>> {
        Box::pin(async move {
            let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
            match argv[0].as_str() {
                "true" | ":" => ok(""),
                "false" => fail(1, ""),
                "sync" => ok(""),
                "echo" => echo(&args),
                "uname" => self.uname(&args),
                "lsblk" => self.lsblk(),
                "blkdiscard" => self.blkdiscard(&args),
                "wget" => wget(&args).await,
                "xz" => xz(&args, &stdin),
                "dd" => self.dd(&args, stdin),
                "shutdown" | "poweroff" | "halt" | "reboot" => self.power(&argv[0], &args),
                other => fail(
                    127,
                    format!("bash: {other}: command not found (not modelled by hk8s-sim)\n"),
                ),
            }
        })
    }
}

fn echo(args: &[&str]) -> Ran {
    let (newline, words) = match args.first() {
        Some(&"-n") => (false, &args[1..]),
        _ => (true, args),
    };
    let mut text = words.join(" ");
    if newline {
        text.push('\n');
    }
    ok(text)
}

impl Machine {
    fn disk_size_gb(&self) -> i32 {
        self.world
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .data
            .servers
            .get(&self.server)
            .map_or(20, |s| s.primary_disk_size)
    }

    /// Writes the disk while this rescue boot still runs; false when it no longer does.
    fn write_disk(&self, disk: Disk) -> bool {
        let mut world = self.world.write().unwrap_or_else(PoisonError::into_inner);
        match world.data.servers.get_mut(&self.server) {
            Some(s) if s.in_rescue.as_ref().is_some_and(|r| r.boot == self.boot) => {
                s.disk = disk;
                s.disk_writes += 1;
                true
            }
            _ => false,
        }
    }

    fn uname(&self, args: &[&str]) -> Ran {
        let machine = if self.arch == "arm" {
            "aarch64"
        } else {
            "x86_64"
        };
        match args {
            [] | ["-s"] => ok("Linux\n"),
            ["-m"] => ok(format!("{machine}\n")),
            ["-r"] => ok("6.12.38+deb13-amd64\n"),
            ["-a"] => ok(format!(
                "Linux rescue 6.12.38+deb13-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.12.38-1 {machine} GNU/Linux\n"
            )),
            _ => fail(
                1,
                format!("uname: options {args:?} are not modelled by hk8s-sim\n"),
            ),
        }
    }

    fn lsblk(&self) -> Ran {
        ok(format!(
            "NAME MAJ:MIN RM  SIZE RO TYPE MOUNTPOINTS\nsda    8:0    0 {:>4}G  0 disk \n",
            self.disk_size_gb()
        ))
    }

    fn blkdiscard(&self, args: &[&str]) -> Ran {
        let mut device = None;
        for arg in args {
            match *arg {
                "-f" | "--force" | "-v" | "--verbose" => {}
                a if a.starts_with('-') => {
                    return fail(
                        1,
                        format!("blkdiscard: option {a} is not modelled by hk8s-sim\n"),
                    );
                }
                a => device = Some(a),
            }
        }
        match device {
            None => fail(
                1,
                "blkdiscard: no device specified\nTry 'blkdiscard --help' for more information.\n",
            ),
            Some(SYSTEM_DISK) => {
                self.write_disk(Disk::Empty);
                ok("")
            }
            Some(other) => fail(
                1,
                format!("blkdiscard: cannot open {other}: No such file or directory\n"),
            ),
        }
    }

    fn dd(&self, args: &[&str], stdin: Vec<u8>) -> Ran {
        let mut of = None;
        let mut quiet = false;
        let mut block = 512usize;
        for arg in args {
            let Some((key, value)) = arg.split_once('=') else {
                return fail(
                    1,
                    format!(
                        "dd: unrecognized operand '{arg}'\nTry 'dd --help' for more information.\n"
                    ),
                );
            };
            match key {
                "of" => of = Some(value),
                "if" if value == "/dev/stdin" || value == "-" => {}
                "if" => {
                    return fail(
                        1,
                        format!("dd: reading files ({value}) is not modelled by hk8s-sim\n"),
                    );
                }
                "bs" | "obs" | "ibs" => match parse_size(value) {
                    Some(n) if n > 0 => block = n,
                    _ => return fail(1, format!("dd: invalid number: '{value}'\n")),
                },
                "status" => match value {
                    "none" => quiet = true,
                    "progress" | "noxfer" => {}
                    _ => {
                        return fail(
                            1,
                            format!(
                                "dd: invalid status level: '{value}'\nTry 'dd --help' for more information.\n"
                            ),
                        );
                    }
                },
                "conv" | "oflag" | "iflag" => {
                    for flag in value.split(',') {
                        if !matches!(
                            flag,
                            "sparse"
                                | "fsync"
                                | "fdatasync"
                                | "notrunc"
                                | "direct"
                                | "sync"
                                | "fullblock"
                                | "dsync"
                                | "noerror"
                        ) {
                            return fail(1, format!("dd: invalid {key} flag: '{flag}'\n"));
                        }
                    }
                }
                _ => {
                    return fail(
                        1,
                        format!(
                            "dd: unrecognized operand '{arg}'\nTry 'dd --help' for more information.\n"
                        ),
                    );
                }
            }
        }
        let bytes = stdin.len();
        let (full, partial) = (bytes / block, usize::from(!bytes.is_multiple_of(block)));
        let report = if quiet {
            String::new()
        } else {
            format!(
                "{full}+{partial} records in\n{full}+{partial} records out\n{bytes} bytes copied, 0.01 s, {} MB/s\n",
                bytes / 10_000
            )
        };
        match of {
            None => Ran {
                output: Output {
                    stdout: stdin,
                    stderr: report.into_bytes(),
                    status: 0,
                },
                down: false,
            },
            Some(SYSTEM_DISK) => {
                // Writing nothing leaves the disk as it was (dd opens the device, writes no byte).
                if bytes > 0 {
                    self.write_disk(recognise(&stdin));
                }
                Ran {
                    output: Output {
                        stdout: Vec::new(),
                        stderr: report.into_bytes(),
                        status: 0,
                    },
                    down: false,
                }
            }
            Some(other) => fail(
                1,
                format!("dd: failed to open '{other}': No such file or directory\n"),
            ),
        }
    }

    fn power(&self, command: &str, args: &[&str]) -> Ran {
        let accepted = match command {
            "shutdown" => matches!(
                args,
                ["now"] | ["-h" | "-P" | "-r", "now"] | ["-h" | "-P" | "-r", "+0"] | ["+0"]
            ),
            "poweroff" | "reboot" => args.is_empty() || args == ["-f"],
            _ => args == ["-p"],
        };
        if !accepted {
            return fail(
                1,
                format!("{command}: arguments {args:?} are not modelled by hk8s-sim\n"),
            );
        }
        let reboot = command == "reboot" || args.first() == Some(&"-r");
        (self.down)(reboot);
        Ran {
            output: Output::default(),
            down: true,
        }
    }
}

/// `4M`, `1M`, `64K`, `512`, `1MiB`-style sizes as dd reads them.
fn parse_size(value: &str) -> Option<usize> {
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, suffix) = value.split_at(split);
    let n: usize = digits.parse().ok()?;
    let factor = match suffix {
        "" | "c" => 1,
        "w" => 2,
        "b" => 512,
        "K" | "KiB" | "k" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "kB" | "KB" => 1000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

fn xz(args: &[&str], stdin: &[u8]) -> Ran {
    let mut decompress = false;
    for arg in args {
        match *arg {
            "-d" | "--decompress" | "--uncompress" | "-cd" | "-dc" => decompress = true,
            "-c" | "--stdout" | "--to-stdout" | "-q" | "--quiet" | "-T0" | "-k" | "--keep" => {}
            a if a.starts_with("-T") || a.starts_with("--threads=") => {}
            "-" => {}
            a if a.starts_with('-') => {
                return fail(1, format!("xz: option {a} is not modelled by hk8s-sim\n"));
            }
            file => {
                return fail(
                    1,
                    format!("xz: {file}: reading files is not modelled by hk8s-sim (use stdin)\n"),
                );
            }
        }
    }
    if !decompress {
        return fail(1, "xz: compressing is not modelled by hk8s-sim\n");
    }
    const MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];
    if !stdin.starts_with(MAGIC) {
        if stdin.len() < MAGIC.len() && MAGIC.starts_with(stdin) && !stdin.is_empty() {
            return fail(1, "xz: (stdin): Unexpected end of input\n");
        }
        return fail(1, "xz: (stdin): File format not recognized\n");
    }
    let mut out = Vec::new();
    match lzma_rs::xz_decompress(&mut &stdin[..], &mut out) {
        Ok(()) => ok(out),
        Err(lzma_rs::error::Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            fail(1, "xz: (stdin): Unexpected end of input\n")
        }
        Err(_) => fail(1, "xz: (stdin): Compressed data is corrupt\n"),
    }
}

/// GNU wget's options as the sim reads them.
#[derive(Debug)]
struct WgetOptions {
    quiet: bool,
    to_stdout: bool,
    timeout: Duration,
    tries: u32,
    retry_connrefused: bool,
    retry_on_http_error: Vec<u16>,
    url: String,
}

fn wget_options(args: &[&str]) -> Result<WgetOptions, Ran> {
    let mut o = WgetOptions {
        quiet: false,
        to_stdout: false,
        timeout: Duration::from_secs(900),
        tries: 20,
        retry_connrefused: false,
        retry_on_http_error: Vec::new(),
        url: String::new(),
    };
    let usage = |what: String| {
        fail(
            2,
            format!(
                "{what}\nUsage: wget [OPTION]... [URL]...\n\nTry `wget --help' for more options.\n"
            ),
        )
    };
    let mut urls = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (*arg, None),
        };
        let mut value = |name: &str| -> Result<String, Ran> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            args.next()
                .map(|v| (*v).to_string())
                .ok_or_else(|| usage(format!("wget: option requires an argument -- '{name}'")))
        };
        let seconds = |v: String| v.parse::<f64>().ok().filter(|s| *s >= 0.0);
        match name {
            "-q" | "--quiet" | "-nv" | "--no-verbose" => o.quiet = true,
            "-O-" => o.to_stdout = true,
            "-O" | "--output-document" => {
                let v = value("O")?;
                if v != "-" {
                    return Err(fail(
                        1,
                        format!(
                            "wget: writing to a file ({v}) is not modelled by hk8s-sim (use -O -)\n"
                        ),
                    ));
                }
                o.to_stdout = true;
            }
            "-T" | "--timeout" | "--read-timeout" | "--connect-timeout" => {
                let v = value("T")?;
                o.timeout = match seconds(v.clone()) {
                    Some(0.0) => Duration::from_secs(900),
                    Some(s) => Duration::from_secs_f64(s),
                    None => {
                        return Err(fail(
                            2,
                            format!("wget: --timeout: Invalid time period '{v}'\n"),
                        ));
                    }
                };
            }
            "-t" | "--tries" => {
                let v = value("t")?;
                o.tries = match v.parse::<u32>() {
                    // 0 or inf: retry forever; the sim gives up after 20 like the default.
                    Ok(0) => 20,
                    Ok(n) => n,
                    Err(_) if v == "inf" => 20,
                    Err(_) => {
                        return Err(fail(2, format!("wget: --tries: Invalid number '{v}'\n")));
                    }
                };
            }
            "-w" | "--wait" | "--waitretry" => {
                value("w")?;
            }
            "--retry-connrefused" => o.retry_connrefused = true,
            "--retry-on-http-error" => {
                o.retry_on_http_error = value("retry-on-http-error")?
                    .split(',')
                    .filter_map(|c| c.trim().parse().ok())
                    .collect();
            }
            "--no-check-certificate" | "--https-only" | "-nc" => {}
            a if a.starts_with('-') => {
                return Err(usage(format!("wget: unrecognized option '{a}'")));
            }
            url => urls.push(url.to_string()),
        }
    }
    match urls.as_slice() {
        [] => Err(usage("wget: missing URL".into())),
        [url] => {
            if !o.to_stdout {
                return Err(fail(
                    1,
                    "wget: writing to a file is not modelled by hk8s-sim (use -O -)\n",
                ));
            }
            o.url = url.clone();
            Ok(o)
        }
        _ => Err(fail(1, "wget: several URLs are not modelled by hk8s-sim\n")),
    }
}

/// What one HTTP attempt gave.
enum Fetch {
    /// Could not resolve the host.
    Unresolved(String),
    /// Could not connect (refused, unreachable, timed out).
    NoConnection(String),
    /// A response: status, reason, declared length, body read so far, whether it broke off.
    Response {
        status: u16,
        reason: String,
        length: Option<usize>,
        body: Vec<u8>,
        broken: bool,
    },
}

async fn wget(args: &[&str]) -> Ran {
    let o = match wget_options(args) {
        Ok(o) => o,
        Err(ran) => return ran,
    };
    let mut log = String::new();
    let mut stdout: Vec<u8> = Vec::new();
    let Some((scheme_ok, host, port, path)) = parse_url(&o.url) else {
        return fail(
            1,
            format!("{}: Invalid URL {}: Unsupported scheme\n", o.url, o.url),
        );
    };
    let _ = scheme_ok;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let range = (!stdout.is_empty()).then_some(stdout.len());
        log.push_str(&format!("--2026-01-01 00:00:00--  {}\n", o.url));
        let fetch = fetch(&host, port, &path, range, o.timeout).await;
        let retry = attempt < o.tries;
        match fetch {
            Fetch::Unresolved(host) => {
                log.push_str(&format!(
                    "Resolving {host} ({host})... failed: Name or service not known.\nwget: unable to resolve host address '{host}'\n"
                ));
                return finish(&o, log, stdout, 4);
            }
            Fetch::NoConnection(why) => {
                log.push_str(&format!("Connecting to {host}:{port}... failed: {why}.\n"));
                if retry && o.retry_connrefused {
                    log.push_str("Retrying.\n\n");
                    continue;
                }
                return finish(&o, log, stdout, 4);
            }
            Fetch::Response {
                status,
                reason,
                length,
                body,
                broken,
            } => {
                log.push_str(&format!(
                    "Connecting to {host}:{port}... connected.\nHTTP request sent, awaiting response... {status} {reason}\n"
                ));
                if !(200..300).contains(&status) {
                    log.push_str(&format!(
                        "2026-01-01 00:00:00 ERROR {status}: {reason}.\n\n"
                    ));
                    if retry && o.retry_on_http_error.contains(&status) {
                        continue;
                    }
                    return finish(&o, log, stdout, 8);
                }
                let total = length.map(|l| l + range.unwrap_or(0));
                stdout.extend_from_slice(&body);
                if broken {
                    log.push_str(&format!(
                        "2026-01-01 00:00:00 (1 MB/s) - Read error at byte {}/{} (Connection reset by peer). ",
                        stdout.len(),
                        total.map_or("unknown".to_string(), |t| t.to_string())
                    ));
                    if retry {
                        log.push_str("Retrying.\n\n");
                        continue;
                    }
                    log.push_str("Giving up.\n\n");
                    return finish(&o, log, stdout, 4);
                }
                log.push_str(&format!(
                    "Length: {} [application/x-xz]\nSaving to: 'STDOUT'\n\n2026-01-01 00:00:00 (1 MB/s) - written to stdout [{}]\n\n",
                    total.map_or("unspecified".to_string(), |t| t.to_string()),
                    stdout.len()
                ));
                return finish(&o, log, stdout, 0);
            }
        }
    }
}

fn finish(o: &WgetOptions, log: String, stdout: Vec<u8>, status: u32) -> Ran {
    Ran {
        output: Output {
            stdout,
            stderr: if o.quiet {
                Vec::new()
            } else {
                log.into_bytes()
            },
            status,
        },
        down: false,
    }
}

/// `http://host[:port]/path` → (true, host, port, path); `https://…` parses too (with port 443)
/// and then fails to connect like any address outside the sim.
fn parse_url(url: &str) -> Option<(bool, String, u16, String)> {
    let (rest, default_port) = if let Some(r) = url.strip_prefix("http://") {
        (r, 80)
    } else if let Some(r) = url.strip_prefix("https://") {
        (r, 443)
    } else if !url.contains("://") {
        (url, 80)
    } else {
        return None;
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (authority, default_port),
    };
    Some((default_port == 80, host.to_string(), port, path.to_string()))
}

/// One GET from the sim's process: only loopback addresses are reachable (the sim has no
/// outside network), names other than `localhost` do not resolve.
async fn fetch(
    host: &str,
    port: u16,
    path: &str,
    range: Option<usize>,
    timeout: Duration,
) -> Fetch {
    let ip: IpAddr = match host {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        h => match h.trim_matches(['[', ']']).parse() {
            Ok(ip) => ip,
            Err(_) => return Fetch::Unresolved(h.to_string()),
        },
    };
    if !ip.is_loopback() {
        return Fetch::NoConnection("Network is unreachable".into());
    }
    let connect = tokio::time::timeout(
        timeout,
        tokio::net::TcpStream::connect(SocketAddr::new(ip, port)),
    );
    let mut stream = match connect.await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Fetch::NoConnection("Connection refused".into());
        }
        Ok(Err(e)) => return Fetch::NoConnection(e.to_string()),
        Err(_) => return Fetch::NoConnection("Connection timed out".into()),
    };
    let range = range.map_or(String::new(), |r| format!("Range: bytes={r}-\r\n"));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: Wget/1.25.0\r\nAccept: */*\r\nAccept-Encoding: identity\r\n{range}Connection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return Fetch::NoConnection("Connection reset by peer".into());
    }
    let mut raw = Vec::new();
    let mut broken = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(timeout, stream.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
            Ok(Err(_)) | Err(_) => {
                broken = true;
                break;
            }
        }
    }
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Fetch::NoConnection("Connection reset by peer".into());
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let _version = parts.next();
    let status: u16 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let reason = parts.next().unwrap_or_default().to_string();
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                length = v.parse().ok();
            } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    if chunked {
        match dechunk(&body) {
            Some(b) => body = b,
            None => broken = true,
        }
    }
    if let Some(l) = length {
        if body.len() < l {
            broken = true;
        }
        body.truncate(l);
    }
    Fetch::Response {
        status,
        reason,
        length,
        body,
        broken,
    }
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if raw.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xz_reports_like_xz_utils() {
        assert_eq!(
            xz(&["-cd"], b"").output.stderr,
            b"xz: (stdin): File format not recognized\n"
        );
        let mut packed = Vec::new();
        lzma_rs::xz_compress(&mut &b"hello"[..], &mut packed).unwrap();
        assert_eq!(xz(&["-d", "-c"], &packed).output.stdout, b"hello");
        let truncated = &packed[..packed.len() - 8];
        let ran = xz(&["-dc", "-T0"], truncated);
        assert_eq!(ran.output.status, 1);
    }

    #[test]
    fn wget_needs_output_to_stdout_and_a_url() {
        assert!(wget_options(&["-q", "-O", "-", "http://127.0.0.1:1/x"]).is_ok());
        assert_eq!(
            wget_options(&["-q", "http://127.0.0.1:1/x"])
                .unwrap_err()
                .output
                .status,
            1
        );
        assert_eq!(
            wget_options(&["--bogus", "-O-", "u"])
                .unwrap_err()
                .output
                .status,
            2
        );
        assert_eq!(parse_size("4M"), Some(4 << 20));
    }
}
