use clap::Parser;

// The validator parses on one thread while another reads the steps and frees what the parser
// made; mimalloc frees across threads without the lock contention of the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = stepwise::cli::Cli::parse();
    let code = match stepwise::app::main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", stepwise::plain::error_text(&e));
            e.exit_code()
        }
    };
    std::process::exit(code);
}
