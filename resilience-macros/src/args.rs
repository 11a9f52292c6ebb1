//! An attribute's argument list: `key = value` pairs and bare values, read into typed
//! settings with every error collected (each at its own token) rather than the first.

use proc_macro2::{Delimiter, Spacing, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Ident, Token};

/// All the errors found so far, reported together.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    /// An error under the whole of `tokens` (first to last token, on stable too).
    pub(crate) fn spanned(
        &mut self,
        tokens: &impl quote::ToTokens,
        message: impl std::fmt::Display,
    ) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn extend(&mut self, other: Errors) {
        if let Some(e) = other.0 {
            self.push(e);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub(crate) fn into_compile_error(self) -> TokenStream {
        self.0.map(|e| e.to_compile_error()).unwrap_or_default()
    }
}

/// One argument as written: `key = value`, or a bare `value`.
pub(crate) struct RawArg {
    pub(crate) key: Option<Ident>,
    pub(crate) value: Expr,
}

impl Parse for RawArg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        // `key = value`, where key may be a keyword such as `crate`.
        if input.peek(Ident::peek_any) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
            let key = Ident::parse_any(input)?;
            input.parse::<Token![=]>()?;
            let value = input.parse()?;
            return Ok(RawArg {
                key: Some(key),
                value,
            });
        }
        Ok(RawArg {
            key: None,
            value: input.parse()?,
        })
    }
}

/// The argument list read straight from its tokens when every value is of the usual
/// kinds: a literal (`3`, `"250ms"`), a name (`none`) or a name called with such
/// arguments (`fixed("10ms")`, `exponential(initial = "1s")`). `None` for anything
/// else, which syn's parser reads (and reports on): it is slow on a macro's
/// unoptimised build, and most attributes need none of it.
fn plain_list(trees: &[TokenTree]) -> Option<Vec<RawArg>> {
    let mut list = Vec::new();
    if trees.is_empty() {
        return Some(list);
    }
    let mut pieces = trees.split(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ','));
    while let Some(piece) = pieces.next() {
        if piece.is_empty() {
            // Only a trailing comma leaves an empty piece that syn would accept.
            return (pieces.next().is_none() && !list.is_empty()).then_some(list);
        }
        let (key, value) = match piece {
            [TokenTree::Ident(key), TokenTree::Punct(eq), value @ ..]
                if eq.as_char() == '=' && eq.spacing() == Spacing::Alone =>
            {
                (Some(key.clone()), value)
            }
            _ => (None, piece),
        };
        list.push(RawArg {
            key,
            value: plain_value(value)?,
        });
    }
    Some(list)
}

fn plain_value(trees: &[TokenTree]) -> Option<Expr> {
    let name = |ident: &Ident| {
        let text = ident.to_string();
        let keyword = matches!(
            text.as_str(),
            "true" | "false" | "self" | "Self" | "crate" | "super" | "_"
        );
        (!keyword).then(|| path(ident.clone()))
    };
    match trees {
        [TokenTree::Literal(literal)] => Some(Expr::Lit(syn::ExprLit {
            attrs: Vec::new(),
            lit: syn::Lit::new(literal.clone()),
        })),
        [TokenTree::Ident(ident)] => name(ident),
        [TokenTree::Ident(ident), TokenTree::Group(group)]
            if group.delimiter() == Delimiter::Parenthesis =>
        {
            let func = name(ident)?;
            let inner: Vec<TokenTree> = group.stream().into_iter().collect();
            let args = plain_list(&inner)?;
            let mut punctuated = Punctuated::new();
            for arg in args {
                punctuated.push(match arg.key {
                    Some(key) => Expr::Assign(syn::ExprAssign {
                        attrs: Vec::new(),
                        eq_token: Token![=](key.span()),
                        left: Box::new(path(key)),
                        right: Box::new(arg.value),
                    }),
                    None => arg.value,
                });
            }
            Some(Expr::Call(syn::ExprCall {
                attrs: Vec::new(),
                func: Box::new(func),
                paren_token: syn::token::Paren {
                    span: group.delim_span(),
                },
                args: punctuated,
            }))
        }
        _ => None,
    }
}

fn path(ident: Ident) -> Expr {
    Expr::Path(syn::ExprPath {
        attrs: Vec::new(),
        qself: None,
        path: ident.into(),
    })
}

/// The arguments of one attribute (or of a nested form such as `exponential(...)`),
/// handed out one by one; what nobody asked for is an error.
pub(crate) struct Args {
    /// What these arguments belong to, for messages: `#[retry]`, `exponential(...)`.
    owner: String,
    span: Span,
    entries: Vec<(RawArg, bool)>,
    pub(crate) errors: Errors,
}

impl Args {
    pub(crate) fn parse(owner: String, span: Span, tokens: TokenStream) -> Args {
        let mut errors = Errors::default();
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let parsed = match plain_list(&trees) {
            Some(list) => Ok(list),
            None => syn::parse::Parser::parse2(
                Punctuated::<RawArg, Token![,]>::parse_terminated,
                trees.into_iter().collect(),
            )
            .map(|list| list.into_iter().collect()),
        };
        let entries = match parsed {
            Ok(list) => list.into_iter().map(|a| (a, false)).collect(),
            Err(e) => {
                errors.push(e);
                Vec::new()
            }
        };
        Args::new(owner, span, entries, errors)
    }

    /// The arguments of a call-like form `name(a = 1, b)` already parsed as an expression.
    pub(crate) fn from_call(owner: String, call: &syn::ExprCall) -> Args {
        let entries = call
            .args
            .iter()
            .map(|arg| {
                let raw = match arg {
                    Expr::Assign(assign) => match &*assign.left {
                        Expr::Path(p) if p.path.get_ident().is_some() => RawArg {
                            key: p.path.get_ident().cloned(),
                            value: (*assign.right).clone(),
                        },
                        _ => RawArg {
                            key: None,
                            value: arg.clone(),
                        },
                    },
                    other => RawArg {
                        key: None,
                        value: other.clone(),
                    },
                };
                (raw, false)
            })
            .collect();
        // The name's span: where the whole call's span would point on stable, found
        // without printing the call to tokens.
        Args::new(owner, call.func.span(), entries, Errors::default())
    }

    fn new(owner: String, span: Span, entries: Vec<(RawArg, bool)>, mut errors: Errors) -> Args {
        for (i, (arg, _)) in entries.iter().enumerate() {
            let Some(key) = &arg.key else { continue };
            let first = entries[..i]
                .iter()
                .any(|(a, _)| a.key.as_ref().is_some_and(|k| k == key));
            if first {
                errors.at(
                    key.span(),
                    format_args!("duplicate argument `{key}`: give it once"),
                );
            }
        }
        Args {
            owner,
            span,
            entries,
            errors,
        }
    }

    /// The span of the whole argument list (or the attribute when it is empty).
    pub(crate) fn span(&self) -> Span {
        self.span
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key = value`, if given.
    pub(crate) fn take(&mut self, key: &str) -> Option<(Ident, Expr)> {
        let mut found = None;
        for (arg, used) in &mut self.entries {
            if !*used && arg.key.as_ref().is_some_and(|k| k == key) {
                *used = true;
                // The first wins; later duplicates were reported when parsing.
                if found.is_none() {
                    found = Some((arg.key.clone()?, arg.value.clone()));
                }
            }
        }
        found
    }

    /// The next bare value, if any.
    pub(crate) fn take_positional(&mut self) -> Option<Expr> {
        let (arg, used) = self
            .entries
            .iter_mut()
            .find(|(a, used)| !*used && a.key.is_none())?;
        *used = true;
        Some(arg.value.clone())
    }

    /// A bare value that is a single identifier (`default`, `none`), taken if present.
    pub(crate) fn take_flag(&mut self, flag: &str) -> Option<Ident> {
        let (arg, used) = self.entries.iter_mut().find(|(a, used)| {
            !*used && a.key.is_none() && expr_ident(&a.value).is_some_and(|i| i == flag)
        })?;
        *used = true;
        expr_ident(&arg.value).cloned()
    }

    /// A bare call `flag(...)` (`budget(ratio = 0.2)`), taken if present.
    pub(crate) fn take_call(&mut self, flag: &str) -> Option<syn::ExprCall> {
        let (arg, used) = self.entries.iter_mut().find(|(a, used)| {
            !*used
                && a.key.is_none()
                && matches!(&a.value, Expr::Call(c) if expr_ident(&c.func).is_some_and(|i| i == flag))
        })?;
        *used = true;
        match &arg.value {
            Expr::Call(call) => Some(call.clone()),
            _ => None,
        }
    }

    /// Reports every argument nobody took: unknown keys (listing the valid ones and
    /// suggesting the nearest) and bare values where none is expected.
    pub(crate) fn finish(mut self, valid: &[&str]) -> Errors {
        for (arg, used) in &self.entries {
            if *used {
                continue;
            }
            match &arg.key {
                Some(key) if valid.contains(&key.unraw().to_string().as_str()) => {}
                Some(key) => {
                    let name = key.unraw().to_string();
                    let hint = match nearest(&name, valid) {
                        Some(near) => format!("; did you mean `{near}`?"),
                        None => String::new(),
                    };
                    self.errors.at(
                        key.span(),
                        format_args!(
                            "unknown argument `{name}` for {}{hint}\n  valid arguments: {}",
                            self.owner,
                            valid.join(", ")
                        ),
                    );
                }
                None => {
                    let hint =
                        match expr_ident(&arg.value).and_then(|i| nearest(&i.to_string(), valid)) {
                            Some(near) => format!("; did you mean `{near} = ...`?"),
                            None => format!("; write `name = value`, one of: {}", valid.join(", ")),
                        };
                    self.errors.spanned(
                        &arg.value,
                        format_args!("unexpected value for {}{hint}", self.owner),
                    );
                }
            }
        }
        self.errors
    }
}

/// The identifier an expression consists of, if it is one: `none`, `full`.
pub(crate) fn expr_ident(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident(),
        _ => None,
    }
}

/// The valid name closest to `name`, if it is close enough to be a typo.
pub(crate) fn nearest<'a>(name: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (edit_distance(name, v), *v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diag + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diag = above;
        }
    }
    row[b.len()]
}
