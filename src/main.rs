fn main() {
    std::process::exit(berth::app::run());
}
