//! Interoperability with strongSwan charon 5.9.8 (kernel-libipsec, its
//! userspace ESP): mtsim in one network namespace with a TUN interface as
//! its inside and the ES PIC carrying the tunnel, charon in another, joined
//! by a veth pair. Certificates from the embedded CA; mtsim's identity is
//! an FQDN, charon's an IPv4 address. mtsim initiates, then charon does;
//! each time `ping` crosses the tunnel both ways.
//!
//! Needs root and the Debian packages strongswan-charon,
//! strongswan-swanctl, libcharon-extra-plugins (kernel-libipsec) and
//! iputils-ping (`.ci/run` installs them); skipped without them, failed
//! under `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ca::authority::{Application, Settings};
use ca::server::ServeConfig;
use pki::altname::AltNames;
use pki::key::{HashAlg, KeyAlgorithm, KeyPair, KeySpec};
use simclock::Clock;
use support::{Netns, daemon_cli, peer_available};

const CHARON: &str = "/usr/lib/ipsec/charon";
const A: &str = "192.0.2.1"; // mtsim
const B: &str = "192.0.2.2"; // charon
const IN_A: &str = "198.51.100.1";
const IN_B: &str = "203.0.113.1";

fn available() -> bool {
    peer_available("swanctl", &["--help"], "strongswan-swanctl")
        && peer_available("test", &["-x", CHARON], "strongswan-charon")
        && peer_available(
            "test",
            &[
                "-e",
                "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so",
            ],
            "libcharon-extra-plugins",
        )
        && peer_available("ping", &["-V"], "iputils-ping")
}

/// Issues a certificate for `dns`/`ip` from the embedded CA: (key PEM,
/// certificate PEM).
fn issue(ca: &ca::server::RunningCa, cn: &str, dns: &str, ip: &str) -> (String, String) {
    let key = KeyPair::generate(KeySpec::new(KeyAlgorithm::Rsa, 2048).unwrap()).unwrap();
    let alt = AltNames {
        dns: vec![dns.into()],
        ip: vec![ip.parse().unwrap()],
        ..AltNames::default()
    };
    let csr = pki::request::build(
        &key,
        pki::name::parse_subject(&format!("CN={cn},O=Example"), "").unwrap(),
        &alt,
        None,
        HashAlg::Sha256,
    )
    .unwrap();
    let now = Duration::from_secs(support::NOW_SECS);
    let cert = ca
        .authority()
        .issue(&Application::from_csr(&csr).unwrap(), now)
        .unwrap();
    (
        key.to_pkcs8_pem().unwrap().to_string(),
        pki::encoding::to_pem("CERTIFICATE", &cert).unwrap(),
    )
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// charon's files under `dir`: strongswan.conf and swanctl/.
/// `classic`: AUTH method 1 (`signature_authentication = no`) and no
/// IKE fragmentation.
fn charon_files(dir: &Path, cas: &[String], key: &str, cert: &str, classic: bool) {
    let (sigauth, frag) = if classic {
        ("no", "no")
    } else {
        ("yes", "yes")
    };
    for (i, c) in cas.iter().enumerate() {
        write(&dir.join(format!("swanctl/x509ca/ca{i}.pem")), c);
    }
    write(&dir.join("swanctl/x509/sun.pem"), cert);
    write(&dir.join("swanctl/private/sun.pem"), key);
    let d = dir.display();
    write(
        &dir.join("strongswan.conf"),
        &format!(
            "charon {{
    load = random nonce openssl pem pkcs1 pkcs8 x509 revocation constraints pubkey aes sha1 sha2 hmac kdf gmp kernel-libipsec kernel-netlink socket-default vici
    filelog {{
        main {{
            path = {d}/charon.log
            time_format = %T
            append = no
            flush_line = yes
            default = 1
            ike = 2
            cfg = 2
        }}
    }}
    syslog {{
        daemon {{
            default = -1
        }}
    }}
    retransmit_tries = 3
    retransmit_timeout = 1.0
    signature_authentication = {sigauth}
    plugins {{
        vici {{
            socket = unix://{d}/charon.vici
        }}
    }}
}}
swanctl {{
    load = random pem pkcs1 pkcs8 x509 openssl
}}
"
        ),
    );
    write(
        &dir.join("swanctl/swanctl.conf"),
        &format!(
            "connections {{
    jnpr {{
        version = 2
        local_addrs = {B}
        remote_addrs = {A}
        proposals = aes128-sha1-modp2048
        rekey_time = 0
        dpd_delay = 0
        fragmentation = {frag}
        local {{
            auth = pubkey
            certs = sun.pem
            id = {B}
        }}
        remote {{
            auth = pubkey
            id = moon.example.net
        }}
        children {{
            net {{
                local_ts = {IN_B}/32
                remote_ts = {IN_A}/32
                esp_proposals = aes128-sha1
                mode = tunnel
                rekey_time = 0
                start_action = none
            }}
        }}
    }}
}}
"
        ),
    );
}

struct Lab {
    _d: tempfile::TempDir,
    a: Netns,
    b: Netns,
    data: PathBuf,
    charon: PathBuf,
}

impl Lab {
    fn swanctl(&self, args: &[&str]) -> (bool, String) {
        let conf = self.charon.join("strongswan.conf");
        let dir = self.charon.join("swanctl");
        let uri = format!("unix://{}/charon.vici", self.charon.display());
        let mut all: Vec<String> = vec![
            format!("STRONGSWAN_CONF={}", conf.display()),
            format!("SWANCTL_DIR={}", dir.display()),
            "swanctl".into(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        all.extend(["--uri".into(), uri]);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        self.b.run("env", &refs)
    }

    fn cli(&self, line: &str) -> String {
        daemon_cli(&self.data, line)
    }

    fn tunnels(&self) -> usize {
        self.cli("show security ipsec security-associations")
            .lines()
            .find_map(|l| l.trim().strip_prefix("Total active tunnels: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    fn logs(&self) -> String {
        format!(
            "--- charon.log\n{}\n--- kmd\n{}\n--- router\n{}",
            std::fs::read_to_string(self.charon.join("charon.log")).unwrap_or_default(),
            std::fs::read_to_string(self.data.join("log/kmd")).unwrap_or_default(),
            std::fs::read_to_string(self._d.path().join("router.log")).unwrap_or_default(),
        )
    }

    fn wait(&self, what: &str, mut f: impl FnMut() -> bool) {
        for _ in 0..150 {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}\n{}", self.logs());
    }

    /// `ping` both ways across the tunnel.
    fn ping_both_ways(&self) {
        let (ok, out) = self.a.run(
            "ping",
            &["-c", "3", "-i", "0.2", "-W", "2", "-I", IN_A, IN_B],
        );
        assert!(
            ok && out.contains("3 received"),
            "mtsim -> charon:\n{out}\n{}",
            self.logs()
        );
        let (ok, out) = self.b.run(
            "ping",
            &["-c", "3", "-i", "0.2", "-W", "2", "-I", IN_B, IN_A],
        );
        assert!(
            ok && out.contains("3 received"),
            "charon -> mtsim:\n{out}\n{}",
            self.logs()
        );
    }
}

/// Namespaces, certificates, mtsim (router with its TUN inside, its VPN
/// configured) and charon, both running; mtsim initiates when `initiate`.
fn lab(tag: &str, initiate: bool, classic: bool) -> Lab {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(Duration::from_secs(support::NOW_SECS));
    let ca = ca::server::start(
        &d.path().join("ca"),
        "127.0.0.1:0".parse().unwrap(),
        ServeConfig {
            settings: Settings::default(),
            ..ServeConfig::default()
        },
        clock,
        false,
    )
    .unwrap();
    let chain: Vec<String> = ca
        .authority()
        .hierarchy()
        .chain()
        .into_iter()
        .map(|c| pki::encoding::to_pem("CERTIFICATE", c).unwrap())
        .collect();
    let (moon_key, moon_cert) = issue(&ca, "moon.example.net", "moon.example.net", A);
    let (sun_key, sun_cert) = issue(&ca, "sun.example.net", "sun.example.net", B);
    drop(ca);

    let mut a = Netns::new(&format!("ssA{tag}"));
    let b = Netns::new(&format!("ssB{tag}"));
    a.veth("vA", A, &b, "vB", B);
    a.must("ip", &["addr", "add", &format!("{IN_A}/32"), "dev", "lo"]);
    b.must("ip", &["addr", "add", &format!("{IN_B}/32"), "dev", "lo"]);

    // mtsim in A: its inside is TUN mt0; traffic for B's inside goes there.
    let data = d.path().join("mtsim");
    let home = data.join("home");
    write(&home.join("ca.pem"), &chain[0]);
    write(&home.join("moon.pem"), &moon_cert);
    write(&home.join("moon.key"), &moon_key);
    std::fs::create_dir_all(&data).unwrap();
    let data_s = data.display().to_string();
    a.spawn(
        d.path(),
        &d.path().join("router.log"),
        env!("CARGO_BIN_EXE_mtsim"),
        &["router", "--data-dir", &data_s, "--tun", "mt0"],
    );
    let lab = Lab {
        charon: d.path().join("charon"),
        _d: d,
        a,
        b,
        data,
    };
    lab.wait("mt0 and the CLI socket", || {
        lab.a.run("ip", &["link", "show", "mt0"]).0 && lab.data.join("run/cli.sock").exists()
    });
    lab.a.must(
        "ip",
        &[
            "route",
            "add",
            &format!("{IN_B}/32"),
            "dev",
            "mt0",
            "src",
            IN_A,
        ],
    );
    let mut config: Vec<String> = vec![
        "set security pki ca-profile ca1 ca-identity ca1".to_string(),
        "set security pki ca-profile ca1 revocation-check disable".into(),
        "set security ike proposal p1 authentication-method rsa-signatures dh-group group14 authentication-algorithm sha1 encryption-algorithm aes-128-cbc".into(),
        "set security ike policy pol proposals p1".into(),
        "set security ike policy pol certificate local-certificate moon".into(),
        "set security ike gateway sun ike-policy pol".into(),
        format!("set security ike gateway sun address {B}"),
        format!("set security ike gateway sun local-address {A}"),
        "set security ike gateway sun local-identity hostname moon.example.net".into(),
        format!("set security ike gateway sun remote-identity inet {B}"),
        "set security ike gateway sun version v2-only".into(),
        "set security ipsec proposal e1 protocol esp authentication-algorithm hmac-sha1-96 encryption-algorithm aes-128-cbc".into(),
        "set security ipsec policy ip proposals e1".into(),
        "set security ipsec vpn to-sun ike gateway sun".into(),
        "set security ipsec vpn to-sun ike ipsec-policy ip".into(),
        "set security ipsec vpn to-sun bind-interface es-1/0/0".into(),
        format!("set security ipsec vpn to-sun traffic-selector ts local-ip {IN_A}/32 remote-ip {IN_B}/32"),
    ];
    config.insert(0, "configure".into());
    config.push("commit".into());
    support::daemon_script(&lab.data, &config);
    lab.cli("request security pki ca-certificate load ca-profile ca1 filename ca.pem force");
    lab.cli("request security pki local-certificate load certificate-id moon filename moon.pem key moon.key");

    // charon in B (a private /run: its pid file is compiled in).
    charon_files(&lab.charon, &chain, &sun_key, &sun_cert, classic);
    let conf = format!(
        "STRONGSWAN_CONF={}",
        lab.charon.join("strongswan.conf").display()
    );
    let mut b = lab.b;
    b.spawn(
        &lab.charon,
        &lab.charon.join("charon.stdout"),
        "env",
        &[
            &conf,
            "sh",
            "-c",
            &format!("mount -t tmpfs tmpfs /run && exec {CHARON}"),
        ],
    );
    let lab = Lab { b, ..lab };
    lab.wait("charon's vici socket", || {
        lab.charon.join("charon.vici").exists()
    });
    let (ok, out) = lab.swanctl(&["--load-all"]);
    assert!(ok, "swanctl --load-all:\n{out}");
    if initiate {
        support::daemon_script(
            &lab.data,
            &[
                "configure".into(),
                "set security ipsec vpn to-sun establish-tunnels immediately".into(),
                "commit".into(),
            ],
        );
    }
    lab
}

#[test]
fn mtsim_initiates_to_charon_and_ping_crosses_both_ways() {
    if !available() {
        return;
    }
    let lab = lab("i", true, false);
    lab.wait("the CHILD_SA on both sides", || {
        lab.tunnels() == 1 && lab.swanctl(&["--list-sas"]).1.contains("INSTALLED")
    });
    let sas = lab.swanctl(&["--list-sas"]).1;
    assert!(
        sas.contains("TUNNEL-in-UDP") && sas.contains("AES_CBC-128/HMAC_SHA1_96"),
        "{sas}"
    );
    lab.ping_both_ways();
    // 3 echo requests and 3 replies each way, counted by the card (the
    // view kmd publishes may trail the last packet by one step).
    lab.wait("the card's counters", || {
        let detail = lab.cli("show security ipsec security-associations detail");
        detail.matches("Packets: 6,").count() == 2
    });
    let ike = lab.cli("show security ike security-associations detail");
    assert!(ike.contains(&format!("Peer ike-id: ipv4:{B}")), "{ike}");
    let log = std::fs::read_to_string(lab.charon.join("charon.log")).unwrap();
    assert!(
        log.contains("authentication of 'moon.example.net' with"),
        "{log}"
    );
}

#[test]
fn charon_initiates_to_mtsim_and_ping_crosses_both_ways() {
    if !available() {
        return;
    }
    let lab = lab("r", false, false);
    let (ok, out) = lab.swanctl(&["--initiate", "--child", "net", "--timeout", "20"]);
    assert!(ok, "swanctl --initiate:\n{out}\n{}", lab.logs());
    lab.wait("the CHILD_SA in mtsim", || lab.tunnels() == 1);
    lab.ping_both_ways();
    let ike = lab.cli("show security ike security-associations detail");
    assert!(ike.contains("Role: Responder, State: UP"), "{ike}");
    // IKE_AUTH with 2048-bit certificates is fragmented both ways (RFC 7383).
    let log = std::fs::read_to_string(lab.charon.join("charon.log")).unwrap();
    assert!(
        log.contains("splitting IKE message"),
        "charon fragmented its IKE_AUTH:\n{log}"
    );
    assert!(
        log.contains("reassembled fragmented IKE message"),
        "mtsim fragmented its answer:\n{log}"
    );
    assert!(
        out.contains(
            "authentication of 'moon.example.net' with RSA_EMSA_PKCS1_SHA2_256 successful"
        ),
        "{out}"
    );
}

#[test]
fn charon_with_classic_rsa_signatures_and_no_fragmentation() {
    if !available() {
        return;
    }
    let lab = lab("c", false, true);
    let (ok, out) = lab.swanctl(&["--initiate", "--child", "net", "--timeout", "20"]);
    assert!(ok, "swanctl --initiate:\n{out}\n{}", lab.logs());
    // Without SIGNATURE_HASH_ALGORITHMS both sides use AUTH method 1.
    assert!(
        out.contains("authentication of 'moon.example.net' with RSA signature successful"),
        "{out}"
    );
    lab.wait("the CHILD_SA in mtsim", || lab.tunnels() == 1);
    lab.ping_both_ways();
}
