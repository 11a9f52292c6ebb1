//! The annotated function's shape: async or not, its receiver and arguments, the
//! `Result` it returns, and the body to wrap (including `#[async_trait]`'s
//! `Box::pin(async move { .. })` output).

use proc_macro2::{Delimiter, Group, Punct, Spacing, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident};
use syn::{
    Attribute, Block, Expr, GenericArgument, Ident, PathArguments, Stmt, Type, TypeParamBound,
};

/// A function as written, read from its tokens. Only what the policies need is picked
/// out (the qualifiers, the arguments, the return type); the rest is kept as written
/// and emitted again unchanged. The signature's types and the body are never parsed:
/// the macro only moves them, and `syn`'s full parse of a signature was most of the
/// macro's run time.
#[derive(Clone)]
pub(crate) struct FnItem {
    pub(crate) attrs: Vec<RawAttr>,
    /// Visibility, qualifiers, `fn`, the name and the generics, as written.
    head: TokenStream,
    pub(crate) ident: Ident,
    asyncness: Option<Span>,
    constness: Option<Span>,
    /// The parentheses around the arguments.
    args_group: Group,
    pub(crate) args: Vec<Arg>,
    /// The return type, without the arrow.
    output: Option<Vec<TokenTree>>,
    /// `-> Type` and the `where` clause, as written.
    tail: TokenStream,
    /// The braces and everything in them.
    pub(crate) block: Group,
}

/// One argument: its attributes, pattern (or receiver) and type, as tokens.
#[derive(Clone)]
pub(crate) struct Arg {
    attrs: Vec<TokenTree>,
    /// The pattern, or the receiver without its type (`self`, `mut self`, `&'a self`).
    pat: Vec<TokenTree>,
    /// `: Type`, or nothing for a receiver written without a type.
    colon: Option<TokenTree>,
    ty: Vec<TokenTree>,
    /// Set for a receiver: whether the pattern is `mut self`.
    receiver: Option<bool>,
}

impl FnItem {
    /// The arguments again, with `pats` for the typed arguments' patterns where it
    /// gives one, and `mut self` written `self` (the body binds it again, mutably).
    pub(crate) fn rebind_args(&mut self, pats: &[Option<Ident>]) {
        let mut typed = pats.iter();
        let mut changed = false;
        for arg in &mut self.args {
            match arg.receiver {
                Some(true) => {
                    arg.pat.remove(0);
                    changed = true;
                }
                Some(false) => {}
                None => {
                    if let Some(Some(name)) = typed.next() {
                        arg.pat = vec![TokenTree::Ident(name.clone())];
                        changed = true;
                    }
                }
            }
        }
        if changed {
            let mut stream = TokenStream::new();
            for (i, arg) in self.args.iter().enumerate() {
                if i > 0 {
                    stream.extend([TokenTree::Punct(Punct::new(',', Spacing::Alone))]);
                }
                stream.extend(arg.attrs.iter().cloned());
                stream.extend(arg.pat.iter().cloned());
                stream.extend(arg.colon.clone());
                stream.extend(arg.ty.iter().cloned());
            }
            let mut group = Group::new(Delimiter::Parenthesis, stream);
            group.set_span(self.args_group.span());
            self.args_group = group;
        }
    }
}

/// An outer attribute as written, `#` and its brackets: most are only carried over,
/// so none is parsed unless it may be one of ours.
#[derive(Clone)]
pub(crate) struct RawAttr {
    pound: TokenTree,
    brackets: TokenTree,
}

impl RawAttr {
    /// `#[inline]`.
    pub(crate) fn inline() -> Self {
        let brackets = Group::new(
            Delimiter::Bracket,
            TokenTree::Ident(Ident::new("inline", Span::call_site())).into(),
        );
        RawAttr {
            pound: TokenTree::Punct(Punct::new('#', Spacing::Alone)),
            brackets: TokenTree::Group(brackets),
        }
    }

    /// Whether this is an `inline` attribute, of any form.
    pub(crate) fn is_inline(&self) -> bool {
        let TokenTree::Group(group) = &self.brackets else {
            return false;
        };
        matches!(group.stream().into_iter().next(), Some(TokenTree::Ident(i)) if i == "inline")
    }

    /// The attribute, parsed, if its path ends in one of `names`.
    pub(crate) fn parse_if_named(&self, names: &[&str]) -> Option<Attribute> {
        let TokenTree::Group(group) = &self.brackets else {
            return None;
        };
        let mut last = None;
        for tree in group.stream() {
            match tree {
                TokenTree::Ident(ident) => last = Some(ident),
                TokenTree::Punct(p) if p.as_char() == ':' => {}
                _ => break,
            }
        }
        let last = last?.to_string();
        if !names.contains(&last.as_str()) {
            return None;
        }
        let tokens = [self.pound.clone(), self.brackets.clone()]
            .into_iter()
            .collect();
        syn::parse::Parser::parse2(Attribute::parse_outer, tokens)
            .ok()?
            .pop()
    }
}

impl ToTokens for RawAttr {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend([self.pound.clone(), self.brackets.clone()]);
    }
}

impl ToTokens for FnItem {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        for attr in &self.attrs {
            attr.to_tokens(tokens);
        }
        tokens.extend([self.head.clone()]);
        tokens.extend([TokenTree::Group(self.args_group.clone())]);
        tokens.extend([self.tail.clone()]);
        tokens.extend([TokenTree::Group(self.block.clone())]);
    }
}

/// Reads a function item; `None` when the tokens are not one.
fn read_item(item: TokenStream) -> Option<FnItem> {
    let mut trees: Vec<TokenTree> = item.into_iter().collect();
    let block = match trees.pop()? {
        TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => g,
        _ => return None,
    };
    // Outer attributes: `#` and a bracketed group.
    let mut at = 0;
    let mut attrs = Vec::new();
    while matches!(&trees.get(at), Some(TokenTree::Punct(p)) if p.as_char() == '#')
        && matches!(&trees.get(at + 1), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket)
    {
        attrs.push(RawAttr {
            pound: trees[at].clone(),
            brackets: trees[at + 1].clone(),
        });
        at += 2;
    }
    // Visibility and qualifiers up to `fn`.
    let head_start = at;
    let (mut asyncness, mut constness) = (None, None);
    loop {
        match trees.get(at)? {
            TokenTree::Ident(i) if i == "fn" => break,
            TokenTree::Ident(i) if i == "async" => asyncness = Some(i.span()),
            TokenTree::Ident(i) if i == "const" => constness = Some(i.span()),
            TokenTree::Ident(i)
                if ["pub", "unsafe", "extern", "default", "safe"]
                    .iter()
                    .any(|k| i == k) => {}
            TokenTree::Literal(_) => {} // the ABI
            TokenTree::Group(g) if g.delimiter() == Delimiter::Parenthesis && at > head_start => {}
            _ => return None,
        }
        at += 1;
    }
    let TokenTree::Ident(ident) = trees.get(at + 1)? else {
        return None;
    };
    let ident = ident.clone();
    at += 2;
    if matches!(trees.get(at), Some(TokenTree::Punct(p)) if p.as_char() == '<') {
        at = skip_angles(&trees, at)?;
    }
    let TokenTree::Group(args_group) = trees.get(at)? else {
        return None;
    };
    if args_group.delimiter() != Delimiter::Parenthesis {
        return None;
    }
    let head = trees[head_start..at].iter().cloned().collect();
    let args_group = args_group.clone();
    let tail_trees = &trees[at + 1..];
    let output = match tail_trees {
        [TokenTree::Punct(dash), TokenTree::Punct(gt), rest @ ..]
            if dash.as_char() == '-' && gt.as_char() == '>' =>
        {
            let end = rest
                .iter()
                .position(|t| matches!(t, TokenTree::Ident(i) if i == "where"))
                .unwrap_or(rest.len());
            Some(rest[..end].to_vec())
        }
        [] => None,
        [TokenTree::Ident(w), ..] if w == "where" => None,
        _ => return None,
    };
    Some(FnItem {
        attrs,
        head,
        ident,
        asyncness,
        constness,
        args: split_args(&args_group),
        args_group,
        output,
        tail: tail_trees.iter().cloned().collect(),
        block,
    })
}

/// The index just past the `>` closing the `<` at `at`.
fn skip_angles(trees: &[TokenTree], mut at: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        if let TokenTree::Punct(p) = trees.get(at)? {
            match p.as_char() {
                '<' => depth += 1,
                '>' if !follows_dash(trees, at) => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(at + 1);
                    }
                }
                _ => {}
            }
        }
        at += 1;
    }
}

/// Whether the `>` at `at` is the end of an arrow `->`.
fn follows_dash(trees: &[TokenTree], at: usize) -> bool {
    at > 0
        && matches!(&trees[at - 1], TokenTree::Punct(p) if p.as_char() == '-' && p.spacing() == Spacing::Joint)
}

/// The arguments in the parentheses: split at the commas outside `<..>`, each into its
/// attributes, pattern and type.
fn split_args(group: &Group) -> Vec<Arg> {
    let trees: Vec<TokenTree> = group.stream().into_iter().collect();
    let mut args = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, tree) in trees.iter().enumerate() {
        if let TokenTree::Punct(p) = tree {
            match p.as_char() {
                '<' => depth += 1,
                '>' if !follows_dash(&trees, i) => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    args.push(split_arg(&trees[start..i]));
                    start = i + 1;
                }
                _ => {}
            }
        }
    }
    if start < trees.len() {
        args.push(split_arg(&trees[start..]));
    }
    args
}

fn split_arg(trees: &[TokenTree]) -> Arg {
    let mut at = 0;
    while matches!(trees.get(at), Some(TokenTree::Punct(p)) if p.as_char() == '#') {
        at += 2;
    }
    let at = at.min(trees.len());
    let attrs = trees[..at].to_vec();
    let rest = &trees[at..];
    // The `:` between the pattern and the type: a lone one, not half of a `::`.
    let colon = rest.iter().enumerate().position(|(i, t)| {
        matches!(t, TokenTree::Punct(p) if p.as_char() == ':' && p.spacing() == Spacing::Alone)
            && !(i > 0 && matches!(&rest[i - 1], TokenTree::Punct(q) if q.as_char() == ':' && q.spacing() == Spacing::Joint))
    });
    let (pat, colon, ty) = match colon {
        Some(c) => (&rest[..c], Some(rest[c].clone()), &rest[c + 1..]),
        None => (rest, None, &rest[rest.len()..]),
    };
    let receiver = match pat {
        [TokenTree::Ident(s)] if s == "self" => Some(false),
        [TokenTree::Ident(m), TokenTree::Ident(s)] if m == "mut" && s == "self" => Some(true),
        [TokenTree::Punct(amp), .., TokenTree::Ident(s)] if amp.as_char() == '&' && s == "self" => {
            Some(false)
        }
        _ => None,
    };
    Arg {
        attrs,
        pat: pat.to_vec(),
        colon,
        ty: ty.to_vec(),
        receiver,
    }
}

use crate::args::Errors;

/// How the function takes `self`.
#[derive(Clone, Copy)]
pub(crate) enum Receiver {
    /// `&self`, `&mut self`, `self: &Self`: no copy needed to use it again.
    Borrowed,
    /// `self`, `mut self`, `self: Arc<Self>`: each further use needs a clone.
    Owned { span: Span, mutable: bool },
}

/// One typed argument.
pub(crate) struct Param {
    /// The pattern as written (`a`, `mut a`, `(x, y)`).
    pub(crate) pat: TokenStream,
    /// The name the signature binds when the argument must be copied for a second use:
    /// the argument's own name, or a generated one for a pattern.
    pub(crate) binding: Ident,
    /// The signature must bind the argument by `binding` (its pattern is more than a
    /// plain name, or is `mut name`), the pattern being bound again in the body.
    pub(crate) needs_binding: bool,
    /// A reference (`&T`, `&mut T`): used again without copying.
    pub(crate) by_ref: bool,
    /// `_`: never used, never copied.
    pub(crate) ignored: bool,
    /// The declared type, `_` where it cannot be named (`impl Trait`).
    pub(crate) ty: TokenStream,
    pub(crate) span: Span,
}

pub(crate) struct Function {
    pub(crate) item: FnItem,
    /// `async fn`, or an `#[async_trait]` method (whose body is a boxed async block).
    pub(crate) is_async: bool,
    /// The body was `#[async_trait]`'s `Box::pin(async move { .. })`: generated code goes
    /// back inside it.
    pub(crate) async_trait: bool,
    /// The body to run, with its braces.
    pub(crate) body: TokenStream,
    /// The declared `Result` type (the boxed future's `Output` for `#[async_trait]`).
    pub(crate) output: TokenStream,
    /// The return type is written `..::Result<..>`; otherwise it may be an alias that the
    /// compiler must check.
    pub(crate) output_is_result: bool,
    pub(crate) receiver: Option<Receiver>,
    /// The receiver's type: `&Self`, `Self`, `Arc<Self>`.
    pub(crate) receiver_ty: TokenStream,
    pub(crate) params: Vec<Param>,
}

/// Reads the item an attribute was put on. `Err` carries the errors to report.
pub(crate) fn parse(kind_name: &str, item: TokenStream) -> Result<Function, Errors> {
    let mut errors = Errors::default();
    let Some(item) = read_item(item.clone()) else {
        let message = match syn::parse2::<syn::TraitItemFn>(item.clone()) {
            Ok(f) if f.default.is_none() => format!(
                "`#[{kind_name}]` needs a function body: put it on the method in each `impl`, not on the trait's declaration"
            ),
            _ => format!("`#[{kind_name}]` can only be applied to a function (`fn` or `async fn`)"),
        };
        let span = item
            .into_iter()
            .next()
            .map_or(Span::call_site(), |t| t.span());
        errors.at(span, message);
        return Err(errors);
    };
    if let Some(c) = item.constness {
        errors.at(
            c,
            format_args!(
                "`#[{kind_name}]` cannot be applied to a `const fn`: its policy runs at run time"
            ),
        );
    }
    if let Some(v) = item
        .args
        .iter()
        .find(|a| is_variadic(&a.pat) || is_variadic(&a.ty))
    {
        let span = v
            .pat
            .first()
            .map_or(item.args_group.span(), TokenTree::span);
        errors.at(
            span,
            format_args!("`#[{kind_name}]` cannot be applied to a variadic function"),
        );
    }

    let mut is_async = item.asyncness.is_some();
    let mut async_trait = false;
    let mut body = item.block.to_token_stream();
    let mut declared = item.output.clone();
    if !is_async {
        if let Some(output) = declared.as_deref().and_then(boxed_future_output) {
            if let Some(inner) = async_trait_body(&item.block) {
                is_async = true;
                async_trait = true;
                body = inner.to_token_stream();
                declared = Some(output.into_token_stream().into_iter().collect());
            }
        }
    }
    let Some(output) = declared else {
        errors.at(
            item.args_group.span(),
            format_args!(
                "`#[{kind_name}]` needs a function that returns `Result<T, E>`; this one returns `()`\n  help: return `Result<(), E>`, where `E` is the error the policy acts on"
            ),
        );
        return Err(errors);
    };
    let output_span = output.first().map_or(Span::call_site(), TokenTree::span);
    let output_is_result = match classify_type(&output) {
        TypeShape::Path(last) => {
            if let Some(name @ ("Option" | "Vec" | "String" | "bool" | "Box")) = last.as_deref() {
                errors.at(
                    output_span,
                    format_args!(
                        "`#[{kind_name}]` needs a function that returns `Result<T, E>`, not `{name}`; policies act on its `Err` case"
                    ),
                );
                return Err(errors);
            }
            last.as_deref() == Some("Result")
        }
        TypeShape::Opaque => false,
        TypeShape::Other => {
            errors.at(
                output_span,
                format_args!(
                    "`#[{kind_name}]` needs a function that returns `Result<T, E>`; policies act on its `Err` case"
                ),
            );
            return Err(errors);
        }
    };

    let mut receiver = None;
    let mut receiver_ty = TokenStream::new();
    let mut params = Vec::new();
    for (index, arg) in item.args.iter().enumerate() {
        let ty_is_ref = matches!(arg.ty.first(), Some(TokenTree::Punct(p)) if p.as_char() == '&');
        if let Some(mutable) = arg.receiver {
            let pat_is_ref =
                matches!(arg.pat.first(), Some(TokenTree::Punct(p)) if p.as_char() == '&');
            let pat_is_mut_ref = pat_is_ref
                && arg
                    .pat
                    .iter()
                    .any(|t| matches!(t, TokenTree::Ident(i) if i == "mut"));
            receiver_ty = if arg.colon.is_some() {
                arg.ty.iter().cloned().collect()
            } else if pat_is_mut_ref {
                quote::quote!(&mut Self)
            } else if pat_is_ref {
                quote::quote!(&Self)
            } else {
                quote::quote!(Self)
            };
            receiver = Some(if pat_is_ref || ty_is_ref {
                Receiver::Borrowed
            } else {
                let span = arg.pat.last().map_or(Span::call_site(), TokenTree::span);
                Receiver::Owned { span, mutable }
            });
            continue;
        }
        let pat = &arg.pat;
        let (plain, mutable, ignored) = match pat.as_slice() {
            [TokenTree::Ident(i)] if i == "_" => (false, false, true),
            [TokenTree::Ident(i)] if !is_pattern_keyword(i) => (true, false, false),
            [TokenTree::Ident(m), TokenTree::Ident(i)] if m == "mut" && !is_pattern_keyword(i) => {
                (true, true, false)
            }
            _ => (false, false, false),
        };
        let binding = match (plain, pat.last()) {
            (true, Some(TokenTree::Ident(i))) => i.clone(),
            _ => format_ident!("__resilience_arg{}", index),
        };
        let ty = if mentions_impl_trait(&arg.ty) {
            quote::quote!(_)
        } else {
            arg.ty.iter().cloned().collect()
        };
        let span = arg
            .attrs
            .first()
            .or(arg.pat.first())
            .map_or(Span::call_site(), TokenTree::span);
        params.push(Param {
            pat: arg.pat.iter().cloned().collect(),
            binding,
            needs_binding: !plain || mutable,
            by_ref: ty_is_ref,
            ignored,
            ty,
            span,
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Function {
        item,
        is_async,
        async_trait,
        body,
        output: output.into_iter().collect(),
        output_is_result,
        receiver,
        receiver_ty,
        params,
    })
}

/// Keywords that may stand alone as a pattern but bind no name.
fn is_pattern_keyword(ident: &Ident) -> bool {
    ["ref", "true", "false", "Self", "crate", "super"]
        .iter()
        .any(|k| ident == k)
}

/// `...`, a C variadic.
fn is_variadic(dots: &[TokenTree]) -> bool {
    dots.len() == 3
        && dots
            .iter()
            .all(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == '.'))
}

/// What a return type is, as far as the policies care.
enum TypeShape {
    /// A path (`Result<T, E>`, `io::Result<T>`, `Alias`), with its last segment's name.
    Path(Option<String>),
    /// Something that may be an alias of a `Result` the macro cannot see through: a
    /// parenthesised type, a type from a macro, a qualified path.
    Opaque,
    /// Anything else (a tuple, a reference, `impl Trait`, ...): never a `Result`.
    Other,
}

fn classify_type(trees: &[TokenTree]) -> TypeShape {
    match trees.first() {
        Some(TokenTree::Group(g)) => {
            let paren = g.delimiter() == Delimiter::Parenthesis;
            let tuple = g.stream().is_empty()
                || g.stream()
                    .into_iter()
                    .any(|t| matches!(&t, TokenTree::Punct(p) if p.as_char() == ','));
            match g.delimiter() {
                Delimiter::None => TypeShape::Opaque,
                _ if paren && !tuple && trees.len() == 1 => TypeShape::Opaque,
                _ => TypeShape::Other,
            }
        }
        Some(TokenTree::Punct(p)) if p.as_char() == '<' => TypeShape::Opaque,
        Some(TokenTree::Punct(p)) if p.as_char() == ':' => TypeShape::Path(last_segment(trees)),
        Some(TokenTree::Ident(i))
            if !["impl", "dyn", "fn", "unsafe", "extern", "for", "_"]
                .iter()
                .any(|k| i == k) =>
        {
            let is_macro = trees
                .iter()
                .any(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == '!'));
            if is_macro {
                TypeShape::Opaque
            } else {
                TypeShape::Path(last_segment(trees))
            }
        }
        _ => TypeShape::Other,
    }
}

/// The name of a path type's last segment: the last name outside `<..>`.
fn last_segment(trees: &[TokenTree]) -> Option<String> {
    let mut depth = 0usize;
    let mut last = None;
    for (i, tree) in trees.iter().enumerate() {
        match tree {
            TokenTree::Punct(p) if p.as_char() == '<' => depth += 1,
            TokenTree::Punct(p) if p.as_char() == '>' && !follows_dash(trees, i) => {
                depth = depth.saturating_sub(1);
            }
            TokenTree::Ident(ident) if depth == 0 => last = Some(ident.to_string()),
            _ => {}
        }
    }
    last
}

/// Whether a type mentions `impl Trait`, which cannot be named elsewhere.
fn mentions_impl_trait(trees: &[TokenTree]) -> bool {
    trees.iter().any(|t| match t {
        TokenTree::Ident(i) => i == "impl",
        TokenTree::Group(g) => mentions_impl_trait(&g.stream().into_iter().collect::<Vec<_>>()),
        _ => false,
    })
}

/// `R` in `Pin<Box<dyn Future<Output = R> + Send + 'a>>`, the return type
/// `#[async_trait]` gives its methods.
fn boxed_future_output(ty: &[TokenTree]) -> Option<Type> {
    if last_segment(ty).as_deref() != Some("Pin") {
        return None;
    }
    let ty: Type = syn::parse2(ty.iter().cloned().collect()).ok()?;
    let arg = |ty: &Type, name: &str| -> Option<Type> {
        let Type::Path(p) = ty else { return None };
        let seg = p.path.segments.last()?;
        if seg.ident != name {
            return None;
        }
        let PathArguments::AngleBracketed(args) = &seg.arguments else {
            return None;
        };
        args.args.iter().find_map(|a| match a {
            GenericArgument::Type(t) => Some(t.clone()),
            _ => None,
        })
    };
    let boxed = arg(&ty, "Pin")?;
    let Type::TraitObject(object) = arg(&boxed, "Box")? else {
        return None;
    };
    object.bounds.iter().find_map(|b| {
        let TypeParamBound::Trait(t) = b else {
            return None;
        };
        let seg = t.path.segments.last()?;
        if seg.ident != "Future" {
            return None;
        }
        let PathArguments::AngleBracketed(args) = &seg.arguments else {
            return None;
        };
        args.args.iter().find_map(|a| match a {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(assoc.ty.clone()),
            _ => None,
        })
    })
}

/// The block inside `Box::pin(async move { .. })` when that is the whole body.
fn async_trait_body(body: &Group) -> Option<Block> {
    let block: Block = syn::parse2(body.to_token_stream()).ok()?;
    let [Stmt::Expr(Expr::Call(call), None)] = block.stmts.as_slice() else {
        return None;
    };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    let segs: Vec<String> = func
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    if !segs.ends_with(&["Box".to_string(), "pin".to_string()]) || call.args.len() != 1 {
        return None;
    }
    match call.args.first()? {
        Expr::Async(a) if a.capture.is_some() => Some(a.block.clone()),
        _ => None,
    }
}

/// Renames every `self` in `tokens` to `to`, so a body can use a copy of an owned
/// receiver (a new binding cannot be called `self`).
pub(crate) fn rename_self(tokens: TokenStream, to: &Ident) -> TokenStream {
    tokens
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Ident(ident) if ident == "self" => {
                TokenTree::Ident(Ident::new(&to.to_string(), ident.span()))
            }
            TokenTree::Group(group) => {
                let mut renamed =
                    proc_macro2::Group::new(group.delimiter(), rename_self(group.stream(), to));
                renamed.set_span(group.span());
                TokenTree::Group(renamed)
            }
            other => other,
        })
        .collect()
}
