//! The annotated function's shape: async or not, its receiver and arguments, the
//! `Result` it returns, and the body to wrap (including `#[async_trait]`'s
//! `Box::pin(async move { .. })` output).

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{
    Attribute, Block, Expr, FnArg, GenericArgument, Ident, Pat, PathArguments, ReceiverKind,
    ReturnType, Signature, Stmt, Type, TypeParamBound, Visibility,
};

/// A function as written. Its body is kept as tokens, never parsed into statements:
/// the macro only moves it, and parsing a long body would be most of its run time.
#[derive(Clone)]
pub(crate) struct FnItem {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    /// The braces and everything in them.
    pub(crate) block: Group,
}

impl Parse for FnItem {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let block: Group = input.parse()?;
        if block.delimiter() != Delimiter::Brace {
            return Err(syn::Error::new(
                block.span(),
                "expected the function's body",
            ));
        }
        Ok(FnItem {
            attrs,
            vis,
            sig,
            block,
        })
    }
}

impl ToTokens for FnItem {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        for attr in &self.attrs {
            attr.to_tokens(tokens);
        }
        self.vis.to_tokens(tokens);
        self.sig.to_tokens(tokens);
        self.block.to_tokens(tokens);
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
    pub(crate) pat: Pat,
    /// The name the signature binds when the argument must be copied for a second use:
    /// the argument's own name, or a generated one for a pattern.
    pub(crate) binding: Ident,
    /// A reference (`&T`, `&mut T`): used again without copying.
    pub(crate) by_ref: bool,
    /// `_`: never used, never copied.
    pub(crate) ignored: bool,
    /// The declared type, `_` where it cannot be named (`impl Trait`).
    pub(crate) ty: TokenStream,
    pub(crate) span: Span,
}

impl Param {
    /// Whether the pattern is more than a plain (possibly `mut`) name.
    pub(crate) fn is_pattern(&self) -> bool {
        !matches!(&self.pat, Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none())
    }
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
    pub(crate) output: Type,
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
    let item: FnItem = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let message = match syn::parse2::<syn::TraitItemFn>(item.clone()) {
                Ok(f) if f.default.is_none() => format!(
                    "`#[{kind_name}]` needs a function body: put it on the method in each `impl`, not on the trait's declaration"
                ),
                _ => format!(
                    "`#[{kind_name}]` can only be applied to a function (`fn` or `async fn`)"
                ),
            };
            let span = item
                .into_iter()
                .next()
                .map_or(Span::call_site(), |t| t.span());
            errors.at(span, message);
            return Err(errors);
        }
    };
    let sig = &item.sig;
    if let Some(c) = &sig.constness {
        errors.at(
            c.span,
            format_args!(
                "`#[{kind_name}]` cannot be applied to a `const fn`: its policy runs at run time"
            ),
        );
    }
    if let Some(v) = &sig.variadic {
        errors.at(
            v.span(),
            format_args!("`#[{kind_name}]` cannot be applied to a variadic function"),
        );
    }

    let mut is_async = sig.asyncness.is_some();
    let mut async_trait = false;
    let mut body = item.block.to_token_stream();
    let mut declared = match &sig.output {
        ReturnType::Type(_, ty) => Some((**ty).clone()),
        ReturnType::Default => None,
    };
    if !is_async {
        if let Some(output) = declared.as_ref().and_then(boxed_future_output) {
            if let Some(inner) = async_trait_body(&item.block) {
                is_async = true;
                async_trait = true;
                body = inner.to_token_stream();
                declared = Some(output);
            }
        }
    }
    let Some(output) = declared else {
        errors.at(
            sig.paren_token.span.join(),
            format_args!(
                "`#[{kind_name}]` needs a function that returns `Result<T, E>`; this one returns `()`\n  help: return `Result<(), E>`, where `E` is the error the policy acts on"
            ),
        );
        return Err(errors);
    };
    let output_is_result = match &output {
        Type::Path(p) if p.qself.is_none() => {
            p.path.segments.last().is_some_and(|s| s.ident == "Result")
        }
        Type::Group(_) | Type::Paren(_) | Type::Macro(_) => false,
        other => {
            errors.at(
                other.span(),
                format_args!(
                    "`#[{kind_name}]` needs a function that returns `Result<T, E>`; policies act on its `Err` case"
                ),
            );
            return Err(errors);
        }
    };
    if let Type::Path(p) = &output {
        let last = p.path.segments.last().map(|s| s.ident.to_string());
        if let Some(name @ ("Option" | "Vec" | "String" | "bool" | "Box")) = last.as_deref() {
            errors.at(
                output.span(),
                format_args!(
                    "`#[{kind_name}]` needs a function that returns `Result<T, E>`, not `{name}`; policies act on its `Err` case"
                ),
            );
            return Err(errors);
        }
    }

    let mut receiver = None;
    let mut receiver_ty = TokenStream::new();
    let mut params = Vec::new();
    for (index, input) in sig.inputs.iter().enumerate() {
        match input {
            FnArg::Receiver(r) => {
                receiver_ty = match &r.kind {
                    ReceiverKind::Reference(_, _, Some(_)) => quote::quote!(&mut Self),
                    ReceiverKind::Reference(..) => quote::quote!(&Self),
                    ReceiverKind::Typed(_, ty) => quote::ToTokens::to_token_stream(ty),
                    _ => quote::quote!(Self),
                };
                let borrowed = match &r.kind {
                    ReceiverKind::Reference(..) => true,
                    ReceiverKind::Typed(_, ty) => matches!(**ty, Type::Reference(_)),
                    _ => false,
                };
                receiver = Some(if borrowed {
                    Receiver::Borrowed
                } else {
                    Receiver::Owned {
                        span: r.self_token.span,
                        mutable: r.mutability.is_some(),
                    }
                });
            }
            FnArg::Typed(pt) => {
                let by_ref = matches!(*pt.ty, Type::Reference(_));
                let ignored = matches!(*pt.pat, Pat::Wild(_));
                let binding = match &*pt.pat {
                    Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
                    _ => format_ident!("__resilience_arg{}", index),
                };
                let ty = if mentions_impl_trait(&quote::ToTokens::to_token_stream(&pt.ty)) {
                    quote::quote!(_)
                } else {
                    quote::ToTokens::to_token_stream(&pt.ty)
                };
                params.push(Param {
                    pat: (*pt.pat).clone(),
                    binding,
                    by_ref,
                    ignored,
                    ty,
                    span: pt.span(),
                });
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Function {
        item,
        is_async,
        async_trait,
        body,
        output,
        output_is_result,
        receiver,
        receiver_ty,
        params,
    })
}

/// Whether a type mentions `impl Trait`, which cannot be named elsewhere.
fn mentions_impl_trait(tokens: &TokenStream) -> bool {
    tokens.clone().into_iter().any(|t| match t {
        TokenTree::Ident(i) => i == "impl",
        TokenTree::Group(g) => mentions_impl_trait(&g.stream()),
        _ => false,
    })
}

/// `R` in `Pin<Box<dyn Future<Output = R> + Send + 'a>>`, the return type
/// `#[async_trait]` gives its methods.
fn boxed_future_output(ty: &Type) -> Option<Type> {
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
    let boxed = arg(ty, "Pin")?;
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
