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
            stepwise::out::eprint(format_args!("{}\n", stepwise::plain::error_text(&e)));
            e.exit_code()
        }
    };
    // A closed stdout does not change the status: it is the command's own.
    stepwise::out::flush();
    std::process::exit(code);
}
