fn main() {
    eprintln!("terraform-provider-hk8s: not built yet");
    std::process::exit(1);
}
