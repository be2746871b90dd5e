//! `distillwatch demo`: a newcomer's first run on a fresh machine. A database
//! of its own on the configured server (the embedded cluster by default),
//! two days of simulated traffic from the shipped sample with the accounts'
//! attributes, an audit, an analyst and an admin key, then the service, with
//! a printed guide to the riskiest flags, their case files and the API.

use std::path::PathBuf;

use anyhow::Context as _;
use dw_app::{Actor, App, AuditSpec, FlagFilter};
use dw_domain::Role;
use secrecy::ExposeSecret;

use crate::database::Database;
use crate::settings::Settings;

/// Builds the demo database and serves it until interrupted.
pub async fn run(settings: &Settings, data: PathBuf) -> anyhow::Result<()> {
    let db = Database::open(&settings.database).await?;
    let name = format!("{}_demo", db.connect_options().get_database().unwrap_or("distillwatch"));
    {
        let mut admin = db.pool.acquire().await?;
        dw_store::databases::drop(&mut admin, &name).await.context("cannot drop the previous demo database")?;
        dw_store::databases::create(&mut admin, &name).await.context("cannot create the demo database")?;
    }
    let pool = dw_store::connect(db.connect_options().database(&name), 8).await?;
    dw_store::migrate(&pool).await?;
    let app = App::new(pool.clone(), crate::cli::app_config(settings));
    eprintln!("demo: database {name} (dropped and made again on every run)");

    let loader = crate::ingest_files::BackfillLoader { settings: &settings.ingest };
    let dw_lab::demo::Prepared { accepted, from, to } = dw_lab::demo::prepare(&app, &loader, data).await?;
    eprintln!("demo: ingested {accepted} events and the accounts' attributes");
    let id = app
        .queue_audit(&AuditSpec { from, to, accounts: None, model: None, dry_run: false, requested_by: "demo".into() })
        .await?;
    let outcome = app.run_audit("demo", Some(id)).await?.context("the demo audit was not claimed")?;
    let demo = Actor { name: "cli:demo".into(), role: "admin".into() };
    let analyst = app.create_key("demo analyst", Role::Analyst, &demo).await?;
    let admin = app.create_key("demo admin", Role::Admin, &demo).await?;

    let listener = tokio::net::TcpListener::bind(settings.server.bind)
        .await
        .with_context(|| format!("cannot listen on {}", settings.server.bind))?;
    let base = format!("http://{}", listener.local_addr()?);
    let top = app
        .find_flags(&FlagFilter { status: Some(dw_app::FlagStatus::Open), limit: 5, ..FlagFilter::default() })
        .await?;
    let key = analyst.secret.expose_secret();
    let mut guide = format!(
        "\nThe console: {base}/ (sign in with the analyst key below)\n\n\
         distillwatch demo: {} accounts audited over {} days, {} flagged, {} flags opened.\n\n\
         Analyst key: {key}\nAdmin key:   {}\n\nThe riskiest open flags:\n",
        outcome.summary.accounts,
        dw_lab::demo::DAYS,
        outcome.summary.flagged,
        outcome.summary.opened,
        admin.secret.expose_secret()
    );
    for f in &top {
        let reason: String = f.reason.chars().take(110).collect();
        guide.push_str(&format!(
            "  flag {:>4}  {} {}  risk {:.2} ({})\n            {reason}\n",
            f.id, f.subject_kind, f.subject_id, f.risk, f.level
        ));
    }
    if let Some(f) = top.first() {
        guide.push_str(&format!(
            "\nRead one, with its evidence:\n  curl -H 'Authorization: Bearer {key}' {base}/v1/flags/{id}\n\
             Its case file for legal:\n  curl -H 'Authorization: Bearer {key}' '{base}/v1/flags/{id}/export?format=html' > case-{id}.html\n\
             Escalate it:\n  curl -X PATCH -H 'Authorization: Bearer {key}' -H 'content-type: application/json' \\\n       \
             -d '{{\"status\": \"escalated\", \"note\": \"looks like a farm\"}}' {base}/v1/flags/{id}\n",
            id = f.id
        ));
    }
    guide.push_str(&format!(
        "The riskiest accounts:\n  curl -H 'Authorization: Bearer {key}' '{base}/v1/accounts?limit=10'\n\
         Clusters of linked accounts:\n  curl -H 'Authorization: Bearer {key}' '{base}/v1/clusters?flagged=true'\n\
         Metrics: {base}/metrics\n\nCtrl-C stops the service; the demo database stays until the next demo.\n"
    ));
    eprintln!("{guide}");
    crate::serve::run(listener, app, settings, crate::serve::shutdown_signal()).await?;
    pool.close().await;
    db.close().await?;
    Ok(())
}
