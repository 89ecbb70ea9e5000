//! The `unico-facade` binary: parse the command line, start logging, build
//! the app, run until SIGINT or SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use unico_facade::{
    app::App,
    config::{Cli, Command, EmulatorArgs, ServeArgs},
    emulator::{self, EmulatorConfig},
    telemetry,
};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Emulator(args) => run_emulator(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("unico-facade: {message}");
            ExitCode::from(2)
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let settings = args.settings().map_err(|e| e.to_string())?;
    telemetry::init(args.log_format, std::io::stdout);
    let app = App::build(settings).await.map_err(|e| e.to_string())?;
    app.run(shutdown_signal()).await.map_err(|e| e.to_string())
}

async fn run_emulator(args: EmulatorArgs) -> Result<(), String> {
    telemetry::init(args.log_format, std::io::stdout);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    tracing::warn!(listen = %args.listen, "serving the vendor EMULATOR: every answer is simulated");
    let config = EmulatorConfig {
        listen: args.listen,
        ..EmulatorConfig::default()
    };
    emulator::serve(listener, config, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutdown signal received");
}
