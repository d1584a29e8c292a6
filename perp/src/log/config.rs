//! Reading `/etc/tinylog.conf` (tinylog_run(8)) without a shell.
//!
//! The original sources the file with `sh`. Real configuration files are plain assignments,
//! so this reads the subset of shell syntax they use: `NAME=value` (optionally after `export`),
//! several per line or separated by `;`, values built from unquoted text with backslash escapes,
//! `'single'` and `"double"` quotes (which may span lines), `$NAME` / `${NAME}` expansion from
//! earlier assignments or the environment, and `#` comments. A command line (a first word that
//! is not an assignment) is skipped, as are the assignments prefixed to it, which a shell would
//! not keep either. Command substitution and other expansions are taken literally.

/// The assignments of `text`, in order. `env` supplies variables for `$NAME` not assigned yet.
pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
        vars: Vec::new(),
    };
    let mut out = Vec::new();
    loop {
        let words = p.command(env);
        let Some(words) = words else { break };
        let mut assigns = Vec::new();
        let mut is_command = false;
        for (i, w) in words.iter().enumerate() {
            if i == 0 && w.text == "export" && !w.quoted {
                continue;
            }
            match &w.assign {
                Some((name, value)) if !is_command => assigns.push((name.clone(), value.clone())),
                _ => is_command = true,
            }
        }
        let exported = words
            .first()
            .is_some_and(|w| w.text == "export" && !w.quoted);
        if !is_command || exported {
            for (n, v) in assigns {
                p.vars.push((n.clone(), v.clone()));
                out.push((n, v));
            }
        }
    }
    out
}

/// The last value `name` is given in `assigns`.
pub fn lookup<'a>(assigns: &'a [(String, String)], name: &str) -> Option<&'a str> {
    assigns
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

struct Word {
    text: String,
    quoted: bool,
    /// `(NAME, value)` when the word is an assignment.
    assign: Option<(String, String)>,
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    vars: Vec<(String, String)>,
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    /// The words of the next command; `None` at end of text.
    fn command(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Option<Vec<Word>> {
        let mut words = Vec::new();
        loop {
            match self.peek() {
                None => return if words.is_empty() { None } else { Some(words) },
                Some('\n' | ';') => {
                    self.pos += 1;
                    if !words.is_empty() {
                        return Some(words);
                    }
                }
                Some(' ' | '\t' | '\r') => self.pos += 1,
                Some('#') => {
                    while !matches!(self.peek(), None | Some('\n')) {
                        self.pos += 1;
                    }
                }
                Some(_) => words.push(self.word(env)),
            }
        }
    }

    fn var(&self, name: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .or_else(|| env(name))
            .unwrap_or_default()
    }

    /// After a `$`: the expansion, or a literal `$` when no name follows.
    fn dollar(&mut self, env: &dyn Fn(&str) -> Option<String>) -> String {
        match self.peek() {
            Some('{') => {
                let start = self.pos + 1;
                let mut end = start;
                while self.chars.get(end).is_some_and(|&c| is_name_char(c)) {
                    end += 1;
                }
                if end > start && self.chars.get(end) == Some(&'}') {
                    let name: String = self.chars[start..end].iter().collect();
                    self.pos = end + 1;
                    self.var(&name, env)
                } else {
                    "$".to_string()
                }
            }
            Some(c) if is_name_start(c) => {
                let start = self.pos;
                while self.peek().is_some_and(is_name_char) {
                    self.pos += 1;
                }
                let name: String = self.chars[start..self.pos].iter().collect();
                self.var(&name, env)
            }
            _ => "$".to_string(),
        }
    }

    fn word(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Word {
        let mut text = String::new();
        let mut quoted = false;
        // Where the value starts, if the word began with an unquoted `NAME=`.
        let mut name_end: Option<usize> = None;
        let mut name_ok = true;
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' | '\n' | ';' => break,
                '\\' => {
                    name_ok = false;
                    self.pos += 1;
                    match self.peek() {
                        Some('\n') => self.pos += 1,
                        Some(c) => {
                            text.push(c);
                            self.pos += 1;
                        }
                        None => {}
                    }
                }
                '\'' => {
                    name_ok = false;
                    quoted = true;
                    self.pos += 1;
                    while let Some(c) = self.peek() {
                        self.pos += 1;
                        if c == '\'' {
                            break;
                        }
                        text.push(c);
                    }
                }
                '"' => {
                    name_ok = false;
                    quoted = true;
                    self.pos += 1;
                    while let Some(c) = self.peek() {
                        self.pos += 1;
                        match c {
                            '"' => break,
                            '\\' => match self.peek() {
                                Some('\n') => self.pos += 1,
                                Some(e @ ('$' | '`' | '"' | '\\')) => {
                                    text.push(e);
                                    self.pos += 1;
                                }
                                _ => text.push('\\'),
                            },
                            '$' => text.push_str(&self.dollar(env)),
                            c => text.push(c),
                        }
                    }
                }
                '$' => {
                    name_ok = false;
                    self.pos += 1;
                    text.push_str(&self.dollar(env));
                }
                '=' if name_ok && name_end.is_none() => {
                    self.pos += 1;
                    let valid = text.chars().next().is_some_and(is_name_start)
                        && text.chars().all(is_name_char);
                    if valid {
                        name_end = Some(text.len());
                    } else {
                        name_ok = false;
                    }
                    text.push('=');
                    // Expansions after `NAME=` belong to the value.
                    if valid {
                        name_ok = false;
                    }
                }
                c => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        let assign = name_end.map(|n| (text[..n].to_string(), text[n + 1..].to_string()));
        Word {
            text,
            quoted,
            assign,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text, &no_env)
    }

    fn p(n: &str, v: &str) -> (String, String) {
        (n.to_string(), v.to_string())
    }

    #[test]
    fn shipped_example() {
        let text =
            "TINYLOG_USER=tinylog\nTINYLOG_BASE=/var/log\nTINYLOG_OPTS=\"-k8 -s100000 -t\"\n";
        assert_eq!(
            pairs(text),
            vec![
                p("TINYLOG_USER", "tinylog"),
                p("TINYLOG_BASE", "/var/log"),
                p("TINYLOG_OPTS", "-k8 -s100000 -t")
            ]
        );
    }

    #[test]
    fn quoting_comments_export_and_expansion() {
        let env = |n: &str| (n == "HOME").then(|| "/root".to_string());
        let text = "# a comment\n  export A='x y' B=$HOME/l # trailing\nC=\"${A}-\\$z\";D=a\\ b\nE='multi\nline'\n";
        assert_eq!(
            parse(text, &env),
            vec![
                p("A", "x y"),
                p("B", "/root/l"),
                p("C", "x y-$z"),
                p("D", "a b"),
                p("E", "multi\nline")
            ]
        );
    }

    #[test]
    fn commands_are_skipped() {
        assert_eq!(pairs("echo A=1\nX=1 true\nY=2\n"), vec![p("Y", "2")]);
        assert_eq!(pairs("1A=2\n=3\nZ=\n"), vec![p("Z", "")]);
    }

    #[test]
    fn last_assignment_wins() {
        let a = pairs("A=1\nA=2\n");
        assert_eq!(lookup(&a, "A"), Some("2"));
        assert_eq!(lookup(&a, "B"), None);
    }
}
