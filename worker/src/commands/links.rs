//! `links create --employee E --job J`: mints a referral link as the
//! referral portal would through `/api/referral-links`.

use jobs::referral::links;

use super::actor::actor;
use crate::{cli::LinksCommand, config::Settings, runtime::connect_database};

/// `links create --employee E --job J`.
///
/// # Errors
/// An unknown or inactive employee (named), or a database failure.
pub async fn links(cmd: LinksCommand, settings: &Settings) -> anyhow::Result<()> {
    let LinksCommand::Create {
        employee,
        job,
        expires_in,
        json,
    } = cmd;
    let db = connect_database(settings).await?;
    let ttl = expires_in.unwrap_or(settings.referrals.link_ttl);
    let minted = links::mint(
        &db,
        &actor(),
        &employee,
        &job,
        ttl,
        &settings.referrals.careers_base_url,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&minted)?);
    } else {
        println!("token:      {}", minted.token);
        println!("url:        {}", minted.url);
        println!("expires_at: {}", minted.expires_at.to_rfc3339());
    }
    Ok(())
}
