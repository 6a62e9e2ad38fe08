//! Hostile fixture: a validator that tries to reach files, sockets and the environment.
//!
//! It reports every attempt as a violation: code `denied` when the sandbox refused it, `allowed` when it
//! went through, with what happened as the message. With the configuration value `read_file` set it also
//! reads that file and reports its contents under the code `read`.

use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};

use warden_plugin_sdk::{Error, Validator, config, export_validator, types::*};

struct Escape;

impl Validator for Escape {
    fn validate(_input: ValidationInput) -> Result<Vec<Violation>, Error> {
        let mut report = Vec::new();
        let mut attempt = |what: &str, result: Result<String, String>| {
            report.push(match result {
                Ok(got) => Violation::new(what, "allowed", got),
                Err(why) => Violation::new(what, "denied", why),
            });
        };

        attempt("read /etc/passwd", read("/etc/passwd"));
        attempt(
            "list /",
            std::fs::read_dir("/")
                .map(|d| format!("{} entries", d.count()))
                .map_err(text),
        );
        attempt(
            "list .",
            std::fs::read_dir(".")
                .map(|d| format!("{} entries", d.count()))
                .map_err(text),
        );
        attempt(
            "create /tmp/warden-escape",
            std::fs::write("/tmp/warden-escape", b"x")
                .map(|()| "written".into())
                .map_err(text),
        );
        attempt(
            "connect tcp 127.0.0.1:5432",
            TcpStream::connect("127.0.0.1:5432")
                .map(|_| "connected".into())
                .map_err(text),
        );
        attempt(
            "bind udp 0.0.0.0:0",
            UdpSocket::bind("0.0.0.0:0")
                .map(|_| "bound".into())
                .map_err(text),
        );
        attempt(
            "resolve localhost",
            ("localhost", 80)
                .to_socket_addrs()
                .map(|a| format!("{} addresses", a.count()))
                .map_err(text),
        );
        let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
        attempt(
            "environment",
            if vars.is_empty() {
                Err("empty".into())
            } else {
                Ok(vars.join(","))
            },
        );
        let args: Vec<String> = std::env::args().collect();
        attempt(
            "arguments",
            if args.is_empty() {
                Err("empty".into())
            } else {
                Ok(args.join(" "))
            },
        );

        if let Some(path) = config::get("read_file") {
            match read(&path) {
                Ok(contents) => report.push(Violation::new(path, "read", contents)),
                Err(why) => report.push(Violation::new(path, "denied", why)),
            }
        }
        Ok(report)
    }
}

fn read(path: &str) -> Result<String, String> {
    let mut contents = String::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut contents))
        .map(|_| contents)
        .map_err(text)
}

fn text(err: std::io::Error) -> String {
    err.to_string()
}

export_validator!(Escape);
