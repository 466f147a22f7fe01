//! The IKE daemon's operational commands: `show security ike
//! security-associations [PEER] [detail]`, `show security ipsec
//! security-associations [detail]` and `clear security ike
//! security-associations [PEER]`.

use cli::command::{ArgType, CommandTree, DuplicateCommand, Invocation, Mode, Param, Terminal};

use crate::pki_commands::handler;

use crate::iked::{self, Command};
use crate::router::Session;

fn not_running(t: &mut dyn Terminal) {
    t.print("error: the IKE daemon (kmd) is not running\n");
}

/// Registers the commands.
pub fn register(t: &mut CommandTree<Session>) -> Result<(), DuplicateCommand> {
    use Mode::Operational as Op;
    t.help(Op, "show security ipsec", "Show IPsec information");
    t.register(
        Op,
        "show security ike security-associations",
        "Show IKE security associations",
        vec![
            Param::positional("peer", ArgType::IpAddr, "Remote gateway address"),
            Param::flag("detail", "Display detailed output"),
        ],
        handler(|s: &mut Session, inv: &Invocation, t: &mut dyn Terminal| {
            let Some(kmd) = s.shared.kmd.get() else {
                not_running(t);
                return Ok(());
            };
            let mut view = kmd.view();
            if let Some(peer) = inv.ip("peer") {
                view.sas.retain(|v| v.summary.remote.ip() == peer);
            }
            t.print(&iked::show::ike(&view, inv.flag("detail")));
            Ok(())
        }),
    )?;
    t.register(
        Op,
        "show security ipsec security-associations",
        "Show IPsec security associations (from kmd and the ES PIC)",
        vec![Param::flag("detail", "Display detailed output")],
        handler(|s: &mut Session, inv: &Invocation, t: &mut dyn Terminal| {
            let Some(kmd) = s.shared.kmd.get() else {
                not_running(t);
                return Ok(());
            };
            let now = s.shared.clock.now();
            t.print(&iked::show::ipsec(&kmd.view(), inv.flag("detail"), now));
            Ok(())
        }),
    )?;
    t.help(Op, "clear security ike", "Clear IKE information");
    t.register(
        Op,
        "clear security ike security-associations",
        "Delete IKE security associations and their IPsec SAs",
        vec![Param::positional(
            "peer",
            ArgType::IpAddr,
            "Remote gateway address",
        )],
        handler(|s: &mut Session, inv: &Invocation, t: &mut dyn Terminal| {
            let Some(kmd) = s.shared.kmd.get() else {
                not_running(t);
                return Ok(());
            };
            kmd.send(Command::ClearIke(inv.ip("peer")));
            Ok(())
        }),
    )?;
    Ok(())
}
