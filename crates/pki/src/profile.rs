//! CA profiles (`security pki ca-profile NAME`), as the configuration
//! describes them. The router builds these from the committed
//! configuration and hands them to the manager.

/// How a profile checks revocation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Revocation {
    /// Nothing configured: CRLs are used when present (the Junos default).
    #[default]
    Default,
    /// `revocation-check disable`.
    Disabled,
    /// `revocation-check crl ...`.
    Crl {
        /// `crl url` entries (HTTP or LDAP).
        urls: Vec<String>,
        /// `crl refresh-interval` in hours (None: until nextUpdate).
        refresh_hours: Option<u32>,
        /// `crl disable on-download-failure`.
        disable_on_download_failure: bool,
    },
}

/// One configured CA profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaProfile {
    /// Profile name (also the CA certificate's identifier in the store).
    pub name: String,
    /// `ca-identity`: the CA's name as enrollment protocols know it.
    pub ca_identity: String,
    /// `enrollment url`.
    pub enrollment_url: Option<String>,
    /// `enrollment retry` (0..1080; the Junos YANG default is 1000).
    pub retry: u32,
    /// `enrollment retry-interval` in seconds (0..3600; default 600).
    pub retry_interval: u32,
    /// `revocation-check`.
    pub revocation: Revocation,
    /// `administrator email-address`.
    pub admin_email: Option<String>,
}

impl CaProfile {
    /// A profile with only a name and CA identity.
    pub fn new(name: &str, ca_identity: &str) -> Self {
        CaProfile {
            name: name.to_string(),
            ca_identity: ca_identity.to_string(),
            enrollment_url: None,
            retry: 1000,
            retry_interval: 600,
            revocation: Revocation::Default,
            admin_email: None,
        }
    }
}
