//! `roadside-server`: parse the configuration and start. Everything else lives in the library.

use clap::Parser;
use roadside_server::config::{Command, Config, LogCommand};
use roadside_server::{bootstrap, shutdown_signal, Server};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Config::parse();
    if let Some(Command::Log(LogCommand::Rollover { reason })) = &config.command {
        return match roadside_server::log_rollover(&config, reason).await {
            Ok(done) => {
                println!("{done:#}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!(
                    "{}",
                    serde_json::json!({"code": e.code, "message": e.message})
                );
                std::process::ExitCode::FAILURE
            }
        };
    }
    let server = match Server::prepare(config).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(code = %e.code, "{}", e.message);
            return std::process::ExitCode::FAILURE;
        }
    };
    let base = server.base_url();
    tracing::info!(
        "{}",
        bootstrap::banner(&base, server.state.storage.backend(), &server.seeded)
    );
    match server.serve(shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(code = %e.code, "{}", e.message);
            std::process::ExitCode::FAILURE
        }
    }
}
