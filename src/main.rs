use clap::Parser;

// The validator parses on one thread while another reads the steps and frees what the parser
// made; mimalloc frees across threads without the lock contention of the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = stepwise::cli::Cli::parse();
    let code = match stepwise::commands::main(cli) {
        Ok(code) => code,
        Err(e) => {
            stepwise::out::eprint(format_args!("{}\n", stepwise::error::error_text(&e)));
            e.exit_code()
        }
    };
    // A closed stdout does not change the status: it is the command's own. `exit` flushes
    // stdout only if no thread holds it (a printer blocked on a pipe nobody reads), so it
    // never waits for a reader.
    std::process::exit(code);
}
