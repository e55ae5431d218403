use clap::Parser;

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
