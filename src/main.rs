use std::process::ExitCode;

use aops_agent::cli::{self, Command};
use aops_agent::config::Config;
use aops_agent::{check, generator, log, register, server};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Before mimalloc's constructor and Rust's first allocation, both before `main`: see
// src/allocator.rs.
#[used]
#[link_section = ".init_array.00100"]
static ALLOCATOR_SETUP: extern "C" fn() = aops_agent::allocator::early;

fn main() -> ExitCode {
    // The same binary is the systemd generator, installed as a symlink under that name.
    if generator::invoked_as_generator(std::env::args_os().next().as_ref()) {
        return generator::main(std::env::args_os().skip(1).collect());
    }
    let command = match cli::parse(std::env::args_os().skip(1).collect()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("aops_agent: {e}\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => println!("{}", cli::HELP),
        Command::Version => println!("aops_agent {}", env!("CARGO_PKG_VERSION")),
        Command::RegisterHelp => println!("{}", cli::REGISTER_HELP),
        Command::Start { config } => {
            let config = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    // Refusing to start must be visible both in a terminal and in the journal.
                    eprintln!("aops_agent: {e}");
                    log::init(log::Level::Error, log::target_from_env());
                    if log::target_from_env() == log::Target::Auto {
                        aops_agent::critical!("refusing to start: {e}");
                    }
                    return ExitCode::from(1);
                }
            };
            log::init(config.log_level, log::target_from_env());
            if let Err(e) = server::run(config) {
                eprintln!("aops_agent: {e}");
                aops_agent::critical!("{e}");
                return ExitCode::from(1);
            }
        }
        Command::Check { config, json } => {
            log::init(log::Level::Critical, log::Target::Stderr);
            let report = check::run(&config, &check::Tools::from_env());
            if json {
                println!("{}", check::render::json(&report));
            } else {
                print!("{}", check::render::text(&report));
            }
            return ExitCode::from(u8::from(report.failed()));
        }
        Command::Register { config, source } => {
            let config = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    println!("Agent Register Fail\n{e}");
                    return ExitCode::from(1);
                }
            };
            log::init(log::Level::Critical, log::Target::Stderr);
            match register::run(&config, &source) {
                Ok(done) => {
                    println!("Agent Register Success");
                    for note in done.notes {
                        println!("{note}");
                    }
                }
                Err(why) => {
                    println!("Agent Register Fail\n{why}");
                    return ExitCode::from(1);
                }
            }
        }
    }
    ExitCode::SUCCESS
}
