//! The rescue system's shell: enough of bash for one-line provisioning commands. Lists (`;`,
//! `&&`, `||`, newlines), pipelines (`|`), single and double quotes, backslash escapes, `#`
//! comments, and `set -e`/`-u`/`-o pipefail` with bash's rules: a pipeline's status is its last
//! command's unless `pipefail` (then the last non-zero one), and `-e` exits on a failing
//! pipeline only when it ends its and-or list. Anything else (variables, substitutions,
//! redirections, background jobs, subshells) is refused before anything runs, naming the sim.
//!
//! Stages of a pipeline run one after the other, each reading the previous one's whole output:
//! for the commands modelled (none streams forever) that is what bash's concurrent stages give.

use std::future::Future;
use std::pin::Pin;

/// What a command produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// Exit status.
    pub status: u32,
}

/// How a command line ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The shell exited with this status.
    Exit(u32),
    /// The machine is going down (`shutdown`, `poweroff`, `halt -p`, `reboot`): the session
    /// ends without an exit status.
    Down,
}

/// One command's result: its output, and whether it took the machine down.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ran {
    /// Output and status.
    pub output: Output,
    /// The machine is going down.
    pub down: bool,
}

/// Runs one command (argv) with its standard input.
pub trait Commands: Send + Sync {
    /// Runs `argv` (never empty) reading `stdin`.
    fn run<'a>(
        &'a self,
        argv: &'a [String],
        stdin: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Ran> + Send + 'a>>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Semi,
    And,
    Or,
    Pipe,
}

/// Why a command line cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    /// Shell syntax the sim does not model.
    #[error("bash: {0}: not modelled by hk8s-sim")]
    Unsupported(String),
    /// A quote is not closed.
    #[error("bash: unexpected EOF while looking for matching `{0}'")]
    Unterminated(char),
    /// An operator where a command was expected.
    #[error("bash: syntax error near unexpected token `{0}'")]
    Unexpected(String),
}

fn lex(line: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut tokens = Vec::new();
    let mut chars = line.chars().peekable();
    let mut word: Option<String> = None;
    let unsupported = |what: &str| SyntaxError::Unsupported(what.to_string());
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                tokens.extend(word.take().map(Token::Word));
            }
            '\n' | ';' => {
                tokens.extend(word.take().map(Token::Word));
                tokens.push(Token::Semi);
            }
            '#' if word.is_none() => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        tokens.push(Token::Semi);
                        break;
                    }
                }
            }
            '|' => {
                tokens.extend(word.take().map(Token::Word));
                if chars.peek() == Some(&'|') {
                    chars.next();
                    tokens.push(Token::Or);
                } else if chars.peek() == Some(&'&') {
                    return Err(unsupported("|&"));
                } else {
                    tokens.push(Token::Pipe);
                }
            }
            '&' => {
                tokens.extend(word.take().map(Token::Word));
                if chars.peek() == Some(&'&') {
                    chars.next();
                    tokens.push(Token::And);
                } else {
                    return Err(unsupported("background jobs (&)"));
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(SyntaxError::Unterminated('\'')),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err(SyntaxError::Unterminated('"')),
                        },
                        Some('$') => return Err(unsupported("parameter expansion ($)")),
                        Some('`') => return Err(unsupported("command substitution (`)")),
                        Some(c) => w.push(c),
                        None => return Err(SyntaxError::Unterminated('"')),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => {}
            },
            '$' => return Err(unsupported("parameter expansion ($)")),
            '`' => return Err(unsupported("command substitution (`)")),
            '<' | '>' => return Err(unsupported("redirections (< >)")),
            '(' | ')' => return Err(unsupported("subshells ( )")),
            '{' | '}' if word.is_none() => return Err(unsupported("command groups { }")),
            '*' | '?' | '[' => return Err(unsupported("pathname expansion (* ? [)")),
            '~' if word.is_none() => return Err(unsupported("tilde expansion (~)")),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    tokens.extend(word.take().map(Token::Word));
    Ok(tokens)
}

/// How one pipeline is joined to the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Join {
    First,
    And,
    Or,
}

#[derive(Debug)]
struct Item {
    join: Join,
    pipeline: Vec<Vec<String>>,
}

fn parse(tokens: Vec<Token>) -> Result<Vec<Item>, SyntaxError> {
    let mut items = Vec::new();
    let mut join = Join::First;
    let mut pipeline: Vec<Vec<String>> = Vec::new();
    let mut command: Vec<String> = Vec::new();
    let op_name = |t: &Token| match t {
        Token::Semi => ";",
        Token::And => "&&",
        Token::Or => "||",
        Token::Pipe => "|",
        Token::Word(_) => "",
    };
    for token in tokens {
        match token {
            Token::Word(w) => command.push(w),
            op => {
                if command.is_empty() {
                    // `;` after a complete list (or a blank line) is fine; any other operator
                    // needs a command before it.
                    if op == Token::Semi && pipeline.is_empty() && join == Join::First {
                        continue;
                    }
                    return Err(SyntaxError::Unexpected(op_name(&op).into()));
                }
                pipeline.push(std::mem::take(&mut command));
                if op == Token::Pipe {
                    continue;
                }
                items.push(Item {
                    join,
                    pipeline: std::mem::take(&mut pipeline),
                });
                join = match op {
                    Token::And => Join::And,
                    Token::Or => Join::Or,
                    _ => Join::First,
                };
            }
        }
    }
    if command.is_empty() {
        if !pipeline.is_empty() || join != Join::First {
            return Err(SyntaxError::Unexpected("newline".into()));
        }
    } else {
        pipeline.push(command);
        items.push(Item { join, pipeline });
    }
    Ok(items)
}

/// Shell options (`set`).
#[derive(Debug, Clone, Copy, Default)]
struct Options {
    errexit: bool,
    pipefail: bool,
}

impl Options {
    /// `set` with its arguments; the status of the builtin.
    fn set(&mut self, args: &[String], stderr: &mut Vec<u8>) -> u32 {
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (on, flags) = match arg.strip_prefix('-') {
                Some(f) => (true, f),
                None => match arg.strip_prefix('+') {
                    Some(f) => (false, f),
                    None => {
                        stderr.extend_from_slice(
                            b"bash: set: positional parameters are not modelled by hk8s-sim\n",
                        );
                        return 2;
                    }
                },
            };
            for flag in flags.chars() {
                match flag {
                    'e' => self.errexit = on,
                    // No variables are modelled, so an unset one can never be expanded.
                    'u' | 'x' => {}
                    'o' => match args.next().map(String::as_str) {
                        Some("pipefail") => self.pipefail = on,
                        Some("errexit") => self.errexit = on,
                        Some("nounset" | "xtrace") => {}
                        Some(other) => {
                            stderr.extend_from_slice(
                                format!("bash: set: {other}: invalid option name\n").as_bytes(),
                            );
                            return 2;
                        }
                        None => {}
                    },
                    other => {
                        stderr.extend_from_slice(
                            format!("bash: set: -{other}: invalid option\n").as_bytes(),
                        );
                        return 2;
                    }
                }
            }
        }
        0
    }
}

/// A shell session (options persist across lines of one `shell` channel).
#[derive(Debug, Default)]
pub struct Shell {
    options: Options,
    status: u32,
}

impl Shell {
    /// A fresh shell (as for each `exec` request).
    pub fn new() -> Self {
        Shell::default()
    }

    /// Runs one command line; output goes to `out` as it is produced, command by command.
    pub async fn run_line(
        &mut self,
        line: &str,
        commands: &dyn Commands,
        out: &mut Output,
    ) -> Option<Ending> {
        let items = match lex(line).and_then(parse) {
            Ok(items) => items,
            Err(e) => {
                out.stderr.extend_from_slice(format!("{e}\n").as_bytes());
                self.status = 2;
                return Some(Ending::Exit(2));
            }
        };
        let joins: Vec<Join> = items.iter().map(|i| i.join).collect();
        for (i, item) in items.iter().enumerate() {
            let skip = match item.join {
                Join::First => false,
                Join::And => self.status != 0,
                Join::Or => self.status == 0,
            };
            if skip {
                continue;
            }
            let (status, ending) = self.run_pipeline(&item.pipeline, commands, out).await;
            if let Some(ending) = ending {
                return Some(ending);
            }
            self.status = status;
            // bash ignores -e for every pipeline of an and-or list but the last.
            let ends_list = joins.get(i + 1).is_none_or(|j| *j == Join::First);
            if self.options.errexit && status != 0 && ends_list {
                return Some(Ending::Exit(status));
            }
        }
        None
    }

    /// The status of the last pipeline.
    pub fn status(&self) -> u32 {
        self.status
    }

    async fn run_pipeline(
        &mut self,
        pipeline: &[Vec<String>],
        commands: &dyn Commands,
        out: &mut Output,
    ) -> (u32, Option<Ending>) {
        let mut stdin = Vec::new();
        let mut statuses = Vec::new();
        let stages = pipeline.len();
        for (i, argv) in pipeline.iter().enumerate() {
            let last = i + 1 == stages;
            let ran = match argv[0].as_str() {
                // Builtins change this shell only outside a pipeline (bash runs pipeline
                // stages in subshells).
                "set" => {
                    let mut stderr = Vec::new();
                    let mut options = self.options;
                    let status = options.set(&argv[1..], &mut stderr);
                    if stages == 1 {
                        self.options = options;
                    }
                    Ran {
                        output: Output {
                            stdout: Vec::new(),
                            stderr,
                            status,
                        },
                        down: false,
                    }
                }
                "exit" => {
                    let status = match argv.get(1).map(|s| s.parse::<i64>()) {
                        None => Ok(self.status),
                        Some(Ok(n)) => Ok((n & 0xff) as u32),
                        Some(Err(_)) => Err(argv[1].clone()),
                    };
                    match status {
                        Ok(status) if stages == 1 => return (status, Some(Ending::Exit(status))),
                        Ok(status) => Ran {
                            output: Output {
                                status,
                                ..Output::default()
                            },
                            down: false,
                        },
                        Err(arg) => Ran {
                            output: Output {
                                stdout: Vec::new(),
                                stderr: format!("bash: exit: {arg}: numeric argument required\n")
                                    .into_bytes(),
                                status: 2,
                            },
                            down: false,
                        },
                    }
                }
                _ => commands.run(argv, std::mem::take(&mut stdin)).await,
            };
            out.stderr.extend_from_slice(&ran.output.stderr);
            if last {
                out.stdout.extend_from_slice(&ran.output.stdout);
            } else {
                stdin = ran.output.stdout;
            }
            statuses.push(ran.output.status);
            if ran.down {
                return (0, Some(Ending::Down));
            }
        }
        let status = if self.options.pipefail {
            statuses
                .iter()
                .rev()
                .copied()
                .find(|s| *s != 0)
                .unwrap_or(0)
        } else {
            statuses.last().copied().unwrap_or(0)
        };
        (status, None)
    }
}
