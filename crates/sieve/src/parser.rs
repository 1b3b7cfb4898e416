//! The Sieve grammar (RFC 5228 §8.2) over the lexer's tokens: a generic tree of commands,
//! tests and arguments. What a command *means* is checked later, in `validate`.

use crate::error::CompileError;
use crate::lexer::{Pos, Tok};

/// A string literal with its position.
#[derive(Debug, Clone)]
pub(crate) struct Lit {
    pub(crate) value: String,
    pub(crate) pos: Pos,
}

/// One argument of a command or test.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Tag(String, Pos),
    Number(u64, Pos),
    Str(Lit),
    List(Vec<Lit>, Pos),
}

impl Arg {
    pub(crate) fn pos(&self) -> Pos {
        match self {
            Arg::Tag(_, p) | Arg::Number(_, p) | Arg::List(_, p) => *p,
            Arg::Str(l) => l.pos,
        }
    }
}

/// A test: `name args [test | (test, test…)]`.
#[derive(Debug, Clone)]
pub(crate) struct TestNode {
    pub(crate) name: String,
    pub(crate) pos: Pos,
    pub(crate) args: Vec<Arg>,
    pub(crate) tests: Vec<TestNode>,
    /// True when the tests were written as a parenthesised list.
    pub(crate) test_list: bool,
}

/// A command: `name args [tests] (; | { block })`.
#[derive(Debug, Clone)]
pub(crate) struct CommandNode {
    pub(crate) name: String,
    pub(crate) pos: Pos,
    pub(crate) args: Vec<Arg>,
    pub(crate) tests: Vec<TestNode>,
    pub(crate) test_list: bool,
    pub(crate) block: Option<Vec<CommandNode>>,
}

/// Parses tokens into a command list. `max_nesting` bounds blocks and test nesting together.
pub(crate) fn parse(
    toks: Vec<(Tok, Pos)>,
    max_nesting: usize,
) -> Result<Vec<CommandNode>, CompileError> {
    let end = toks
        .last()
        .map(|(_, p)| *p)
        .unwrap_or(Pos { line: 1, column: 1 });
    let mut p = Parser {
        toks,
        i: 0,
        end,
        max_nesting,
        depth: 0,
    };
    let cmds = p.commands(false)?;
    Ok(cmds)
}

struct Parser {
    toks: Vec<(Tok, Pos)>,
    i: usize,
    end: Pos,
    max_nesting: usize,
    depth: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("identifier \"{s}\""),
        Tok::Tag(s) => format!("tag \":{s}\""),
        Tok::Number(n) => format!("number {n}"),
        Tok::Str(_) => "string".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBrace => "'{'".into(),
        Tok::RBrace => "'}'".into(),
        Tok::Comma => "','".into(),
        Tok::Semi => "';'".into(),
    }
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|(t, _)| t)
    }

    fn pos(&self) -> Pos {
        self.toks.get(self.i).map(|(_, p)| *p).unwrap_or(self.end)
    }

    fn next(&mut self) -> Option<(Tok, Pos)> {
        let t = self.toks.get(self.i).cloned();
        if t.is_some() {
            self.i += 1;
        }
        t
    }

    fn unexpected(&self, wanted: &str) -> CompileError {
        match self.peek() {
            Some(t) => self
                .pos()
                .err(format!("expected {wanted}, found {}", describe(t))),
            None => self
                .pos()
                .err(format!("expected {wanted}, found end of script")),
        }
    }

    fn enter(&mut self, pos: Pos) -> Result<(), CompileError> {
        self.depth += 1;
        if self.depth > self.max_nesting {
            return Err(pos.err(format!(
                "nesting too deep (more than {} levels)",
                self.max_nesting
            )));
        }
        Ok(())
    }

    fn commands(&mut self, in_block: bool) -> Result<Vec<CommandNode>, CompileError> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None if !in_block => return Ok(out),
                None => return Err(self.unexpected("'}'")),
                Some(Tok::RBrace) if in_block => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(Tok::Ident(_)) => out.push(self.command()?),
                Some(_) => return Err(self.unexpected("a command")),
            }
        }
    }

    fn command(&mut self) -> Result<CommandNode, CompileError> {
        let Some((Tok::Ident(name), pos)) = self.next() else {
            return Err(self.unexpected("a command"));
        };
        let args = self.arguments()?;
        let (tests, test_list) = self.tests_opt()?;
        let block = match self.peek() {
            Some(Tok::Semi) => {
                self.i += 1;
                None
            }
            Some(Tok::LBrace) => {
                let bpos = self.pos();
                self.i += 1;
                self.enter(bpos)?;
                let b = self.commands(true)?;
                self.depth -= 1;
                Some(b)
            }
            _ => return Err(self.unexpected("';' or '{'")),
        };
        Ok(CommandNode {
            name,
            pos,
            args,
            tests,
            test_list,
            block,
        })
    }

    fn arguments(&mut self) -> Result<Vec<Arg>, CompileError> {
        let mut args = Vec::new();
        loop {
            let pos = self.pos();
            match self.peek() {
                Some(Tok::Tag(_)) => {
                    let Some((Tok::Tag(t), _)) = self.next() else {
                        unreachable!()
                    };
                    args.push(Arg::Tag(t, pos));
                }
                Some(Tok::Number(n)) => {
                    args.push(Arg::Number(*n, pos));
                    self.i += 1;
                }
                Some(Tok::Str(_)) => {
                    let Some((Tok::Str(s), _)) = self.next() else {
                        unreachable!()
                    };
                    args.push(Arg::Str(Lit { value: s, pos }));
                }
                Some(Tok::LBracket) => {
                    self.i += 1;
                    let mut list = Vec::new();
                    loop {
                        let spos = self.pos();
                        match self.next() {
                            Some((Tok::Str(s), _)) => list.push(Lit {
                                value: s,
                                pos: spos,
                            }),
                            _ => {
                                self.i -= 1;
                                return Err(self.unexpected("a string"));
                            }
                        }
                        match self.next() {
                            Some((Tok::Comma, _)) => {}
                            Some((Tok::RBracket, _)) => break,
                            _ => {
                                self.i -= 1;
                                return Err(self.unexpected("',' or ']'"));
                            }
                        }
                    }
                    args.push(Arg::List(list, pos));
                }
                _ => return Ok(args),
            }
        }
    }

    fn tests_opt(&mut self) -> Result<(Vec<TestNode>, bool), CompileError> {
        match self.peek() {
            Some(Tok::LParen) => Ok((self.test_list()?, true)),
            Some(Tok::Ident(_)) => Ok((vec![self.test()?], false)),
            _ => Ok((Vec::new(), false)),
        }
    }

    fn test_list(&mut self) -> Result<Vec<TestNode>, CompileError> {
        let pos = self.pos();
        self.i += 1;
        self.enter(pos)?;
        let mut out = Vec::new();
        loop {
            out.push(self.test()?);
            match self.next() {
                Some((Tok::Comma, _)) => {}
                Some((Tok::RParen, _)) => break,
                _ => {
                    self.i = self.i.saturating_sub(1);
                    return Err(self.unexpected("',' or ')'"));
                }
            }
        }
        self.depth -= 1;
        Ok(out)
    }

    fn test(&mut self) -> Result<TestNode, CompileError> {
        let pos = self.pos();
        let name = match self.next() {
            Some((Tok::Ident(n), _)) => n,
            other => {
                if other.is_some() {
                    self.i -= 1;
                }
                return Err(self.unexpected("a test"));
            }
        };
        self.enter(pos)?;
        let args = self.arguments()?;
        let (tests, test_list) = self.tests_opt()?;
        self.depth -= 1;
        Ok(TestNode {
            name,
            pos,
            args,
            tests,
            test_list,
        })
    }
}
