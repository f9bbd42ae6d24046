//! The local account: its id and the credentials the emulators accept.

/// The local account id: `${config('AccountID')}` resolves to it unless set,
/// and the OSS emulator owns its buckets in its name.
pub const LOCAL_ACCOUNT_ID: &str = "1234567890123456";
