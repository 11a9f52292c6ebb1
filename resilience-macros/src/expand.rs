//! Code generation: the whole stack of attributes becomes one function body that hands
//! the user's block, once, to the runtime's policies, outermost first.
//!
//! For `#[fallback(f)] #[retry] #[circuit_breaker] async fn g(&self, a: String)` the
//! body becomes, in outline:
//!
//! ```text
//! use retry as _; use circuit_breaker as _;              // the attributes below, expanded here
//! static BREAKER: OnceLock<CircuitBreaker> = ..;          // state: once per function
//! let fb_a = a.clone_arg();                               // fallback (outermost: statements of
//! match async {                                           //   the body): only what it needs
//!     let mut run = RetryRun::start(..);                  // retry
//!     loop {
//!         let a = a.clone_arg();                          // a copy per attempt
//!         let outcome = state(&BREAKER, || ..).call_with(record_if, async { ({ user block }) }).await;
//!         match outcome { Ok(v) => break run.ok(v), Err(e) => match run.failed(&Retry::new(..), e, ..) { Break(r) => break r, Continue(d) => sleep(d).await } }
//!     }
//! }.await { Err(e) => f(self, fb_a, e).await, r => r }
//! ```
//!
//! Async blocks take their captures by `move` unless a layer above them (a retry or a
//! fallback) needs the arguments again.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Ident, Meta};

use crate::args::{Args, Errors};
use crate::func::{self, Function, Receiver};
use crate::kind::Kind;
use crate::policy::{
    self, BackoffArg, BreakerArgs, BulkheadArgs, CacheArgs, CoalesceArgs, ConcurrencyArg,
    FallbackArgs, FallbackForm, HedgeArgs, HedgeDelayArg, Jitter, Layer, Policy, RateLimitArgs,
    RetryArgs, TimeoutArgs, WindowArg,
};
use crate::valid;

/// What the attributes below an erroneous one are left holding, when the item is
/// emitted unchanged beside the errors: each then expands to the item unchanged, so
/// the errors show once. (On success they are expanded with the outermost one and
/// removed.)
const EXPANDED: &str = "__resilience_expanded";

/// The entry point of every attribute.
pub(crate) fn attribute(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    if is_expanded_marker(&args) {
        return item;
    }
    let mut errors = Errors::default();
    let mut function = match func::parse(kind.name(), item.clone()) {
        Ok(f) => f,
        Err(e) => {
            // Not a function we can rewrite: keep the item as it was, so one mistake
            // does not turn into "cannot find function" errors elsewhere, with the
            // attributes below this one marked done so that the error shows once.
            let mut out = mark_stack_expanded(item);
            out.extend([e.into_compile_error()]);
            return out;
        }
    };

    // This attribute, then every stack attribute below it, outermost first.
    let mut krate = None;
    let own = Args::parse(format!("`#[{}]`", kind.name()), Span::call_site(), args);
    let mut layers = vec![policy::parse_layer(
        kind,
        Span::call_site(),
        own,
        &mut krate,
        &mut errors,
    )];
    let mut kept = Vec::new();
    let mut consumed: Vec<syn::Path> = Vec::new();
    for raw in std::mem::take(&mut function.item.attrs) {
        let ours = raw
            .parse_if_named(&Kind::NAMES)
            .and_then(|attr| Some((Kind::from_path(attr.path())?, attr)));
        let Some((below, attr)) = ours else {
            kept.push(raw);
            continue;
        };
        consumed.push(attr.path().clone());
        let span = attr.path().span();
        let tokens = match &attr.meta {
            Meta::Path(_) => TokenStream::new(),
            Meta::List(list) => list.tokens.clone(),
            Meta::NameValue(nv) => {
                errors.at(
                    nv.eq_token.span,
                    format_args!(
                        "write `#[{}(...)]`, with the arguments in parentheses",
                        below.name()
                    ),
                );
                continue;
            }
        };
        let args = Args::parse(format!("`#[{}]`", below.name()), span, tokens);
        layers.push(policy::parse_layer(
            below,
            span,
            args,
            &mut krate,
            &mut errors,
        ));
    }
    function.item.attrs = kept;
    valid::check(&layers, &function, &mut errors);

    if !errors.is_empty() {
        let markers = consumed.iter().map(expanded_marker);
        let item = &function.item;
        let mut out = quote!(#(#markers)* #item);
        out.extend([errors.into_compile_error()]);
        return out;
    }
    let krate = match krate {
        Some(path) => path.to_token_stream(),
        None => quote!(::resilience_runtime),
    };
    let mut out = Generator::new(&function, &layers, krate).function(&consumed);
    out.extend([valid::order_warnings(&layers)]);
    out
}

/// `#[retry(__resilience_expanded)]` for the attribute at `path` (see [`EXPANDED`]).
fn expanded_marker(path: &syn::Path) -> TokenStream {
    let marker = Ident::new(EXPANDED, Span::call_site());
    quote!(#[#path(#marker)])
}

/// The item with every stack attribute replaced by its marker, for items this crate
/// cannot rewrite (their error is reported once, by the outermost attribute).
fn mark_stack_expanded(item: TokenStream) -> TokenStream {
    let parsed = syn::parse::Parser::parse2(
        |input: syn::parse::ParseStream| {
            let attrs = input.call(Attribute::parse_outer)?;
            let rest: TokenStream = input.parse()?;
            Ok((attrs, rest))
        },
        item.clone(),
    );
    let Ok((attrs, rest)) = parsed else {
        return item;
    };
    let attrs = attrs.into_iter().map(|attr| {
        if Kind::from_path(attr.path()).is_some() {
            expanded_marker(attr.path())
        } else {
            attr.into_token_stream()
        }
    });
    quote!(#(#attrs)* #rest)
}

fn is_expanded_marker(args: &TokenStream) -> bool {
    let mut tokens = args.clone().into_iter();
    matches!(
        (tokens.next(), tokens.next()),
        (Some(proc_macro2::TokenTree::Ident(i)), None) if i == EXPANDED
    )
}

struct Generator<'a> {
    function: &'a Function,
    layers: &'a [Layer],
    /// The runtime's path (`::resilience_runtime`, or `crate = path`).
    krate: Trees,
    /// `#krate::__private`, what generated code calls.
    p: Trees,
    /// Some layer uses the arguments a second time (retry, or a fallback function).
    reuses: bool,
    /// The name owned receivers get once the body is renamed (`self` cannot be rebound).
    self_alias: Ident,
    statics: Vec<TokenStream>,
}

impl<'a> Generator<'a> {
    fn new(function: &'a Function, layers: &'a [Layer], krate: TokenStream) -> Self {
        let reuses = layers.iter().any(reuses_arguments);
        let p = Trees(quote!(#krate::__private).into_iter().collect());
        Generator {
            function,
            layers,
            krate: Trees(krate.into_iter().collect()),
            p,
            reuses,
            self_alias: Ident::new("resilience_self", Span::call_site()),
            statics: Vec::new(),
        }
    }

    /// The whole function: the signature as declared (argument patterns that must be
    /// copied are bound by name instead), the new body. The attributes below this one
    /// (`consumed`) are expanded here and removed; a `use` of each keeps the user's
    /// import of it used. (Left on the item, each would be one more macro call with the
    /// whole expanded function to convert and parse again.)
    fn function(mut self, consumed: &[syn::Path]) -> TokenStream {
        let f = self.function;
        let mut item = f.item.clone();
        if self.keeps_inline_hint() {
            item.attrs.push(crate::func::RawAttr::inline());
        }
        if self.reuses {
            // Rebound (mutably, where declared so) inside the body.
            let bindings: Vec<Option<Ident>> = f
                .params
                .iter()
                .map(|p| p.needs_binding.then(|| p.binding.clone()))
                .collect();
            item.rebind_args(&bindings);
        }
        let run = self.outermost();
        let p = &self.p;
        let statics = &self.statics;
        let check_output = (!f.output_is_result).then(|| {
            let output = &f.output;
            quote_spanned!(output.span()=> #p::assert_result::<#output>();)
        });
        let alias_self = self.owned_self_renamed().then(|| {
            let alias = &self.self_alias;
            quote!(let #alias = self;)
        });
        let body = quote! {
            #(#[allow(unused_imports)] use #consumed as _;)*
            #(#statics)*
            #check_output
            #alias_self
            #run
        };
        let body = if f.async_trait {
            quote!(::std::boxed::Box::pin(async move { #body }))
        } else {
            body
        };
        item.block = proc_macro2::Group::new(proc_macro2::Delimiter::Brace, body);
        item.into_token_stream()
    }

    /// A plain function carrying only retries and fallbacks: what they add to a call
    /// that succeeds is a few counts, yet enough to take a small function past LLVM's
    /// threshold for inlining it, where it was inlined without them (and then its
    /// `Result` comes back through memory). `#[inline]` keeps it as inlinable as it
    /// was; one written by the user is left as it is.
    fn keeps_inline_hint(&self) -> bool {
        !self.function.is_async
            && !self.function.async_trait
            && self
                .layers
                .iter()
                .all(|l| matches!(l.policy, Policy::Retry(_) | Policy::Fallback(_)))
            && !self
                .function
                .item
                .attrs
                .iter()
                .any(crate::func::RawAttr::is_inline)
    }

    fn owned_self_renamed(&self) -> bool {
        self.reuses && matches!(self.function.receiver, Some(Receiver::Owned { .. }))
    }

    /// The function's result: the whole stack, awaited where the function is async.
    /// An outermost retry or fallback runs as statements of the function's own body
    /// rather than in an `async` block or a block of its own: each one is more for the
    /// compiler to check (a block around an `async fn`'s tail costs as much as the rest
    /// of a `#[fallback]`).
    fn outermost(&mut self) -> TokenStream {
        let first = self.layers.first().map(|l| &l.policy);
        if matches!(first, Some(Policy::Retry(_) | Policy::Fallback(_))) {
            return self.layer_as(0, false, Form::Statements);
        }
        let stack = self.layer(0, false);
        if self.function.is_async {
            quote!(#stack.await)
        } else {
            stack
        }
    }

    /// The expression for layers `index..`: a future for async functions, the result
    /// for plain ones. `reused` is true when a layer above uses the arguments again.
    fn layer(&mut self, index: usize, reused: bool) -> TokenStream {
        let form = if self.function.is_async {
            Form::Future
        } else {
            Form::Expression
        };
        self.layer_as(index, reused, form)
    }

    /// [`layer`](Self::layer) in the given form (which only a retry or a fallback, the
    /// layers written as statements, can take other than the function's own).
    fn layer_as(&mut self, index: usize, reused: bool, form: Form) -> TokenStream {
        let Some(layer) = self.layers.get(index) else {
            return self.body(reused);
        };
        let reused_below = reused || reuses_arguments(layer);
        // A hedge's copies each own theirs: made in its closure, moved into the layers
        // below.
        let inner = if layer.kind == Kind::Hedge {
            self.layer(index + 1, false)
        } else {
            self.layer(index + 1, reused_below)
        };
        let mv = (!reused).then(|| quote!(move));
        let wrap = |stmts: TokenStream| match form {
            Form::Future => quote!(async #mv { #stmts }),
            Form::Expression => quote!({ #stmts }),
            Form::Statements => stmts,
        };
        match &layer.policy {
            Policy::Retry(args) => wrap(self.retry(index, args, inner)),
            Policy::Fallback(args) => wrap(self.fallback(index, args, inner)),
            Policy::Timeout(args) => self.timeout(index, args, inner),
            Policy::CircuitBreaker(args) => self.breaker(index, args, inner, reused_below),
            Policy::Bulkhead(args) => self.bulkhead(index, args, inner, reused_below),
            Policy::RateLimit(args) => self.rate_limit(index, args, inner, reused_below),
            Policy::Cache(args) => self.cache(index, args, inner, reused_below),
            Policy::Coalesce(args) => self.coalesce(index, args, inner),
            Policy::Hedge(args) => self.hedge(index, args, inner),
        }
    }

    /// The user's block, once, with argument patterns bound again where the signature
    /// binds them by name.
    fn body(&self, reused: bool) -> TokenStream {
        let f = self.function;
        let mut block = f.body.clone();
        if self.owned_self_renamed() {
            block = func::rename_self(block, &self.self_alias);
        }
        let rebind = self.reuses.then(|| {
            let binds = f.params.iter().filter(|p| p.needs_binding).map(|p| {
                let pat = &p.pat;
                let binding = &p.binding;
                quote_spanned!(p.span=> let #pat = #binding;)
            });
            let mut_self = match f.receiver {
                Some(Receiver::Owned { mutable: true, .. }) => {
                    let alias = &self.self_alias;
                    Some(quote!(let mut #alias = #alias;))
                }
                _ => None,
            };
            quote!(#mut_self #(#binds)*)
        });
        let mv = (!reused).then(|| quote!(move));
        // The block stays nested in braces of its own, so that a glob `use` in it cannot
        // shadow the names generated around it. In parentheses (the macro's, which
        // `unused_parens` leaves alone): a one-line body such as `{ Ok(1) }` as the
        // value of a block would be braces around a block's value of one expression,
        // which `unused_braces` reports at the user's braces with a fix that does not
        // compile. The braces keep their span, and with it the edition's rules for the
        // temporaries of the block's value.
        // Counted as running while it runs, for `lifecycle::drain`.
        let p = &self.p;
        if f.is_async {
            let running = Ident::new("__resilience_running", Span::mixed_site());
            quote!(async #mv { let #running = #p::running(); #rebind (#block) })
        } else {
            quote!(#p::run(#mv || { #rebind (#block) }))
        }
    }

    /// Where a single-use layer wraps its inner expression: as a future (async) or a
    /// closure (plain).
    fn deferred(&self, inner: TokenStream, reused: bool) -> TokenStream {
        if self.function.is_async {
            inner
        } else {
            let mv = (!reused).then(|| quote!(move));
            quote!(#mv || #inner)
        }
    }

    /// The policy method that runs the layers below: its async or its blocking form.
    fn call_method(&self, async_form: &str, blocking_form: &str) -> Ident {
        let name = if self.function.is_async {
            async_form
        } else {
            blocking_form
        };
        Ident::new(name, Span::call_site())
    }

    /// The default name: the function's path, `module::fn`; for a method (a function
    /// with a receiver) `module::Type::method`, the type read from `Self` when the name
    /// is first needed.
    fn default_name(&self) -> TokenStream {
        let p = &self.p;
        let name = self.function.item.ident.to_string();
        if self.function.receiver.is_none() {
            quote!(#p::concat!(#p::module_path!(), "::", #name))
        } else {
            quote!(#p::MethodName::<Self>::new(#name))
        }
    }

    fn name_or_default(&self, name: &Option<TokenStream>) -> TokenStream {
        match name {
            Some(name) => name.clone(),
            None => self.default_name(),
        }
    }

    /// A policy's state, created on the function's first call and kept in a `static`
    /// (one per function, shared by every call): an expression of type `&'static ty`.
    fn state(
        &mut self,
        index: usize,
        what: &str,
        ty: TokenStream,
        init: TokenStream,
    ) -> TokenStream {
        self.state_with(index, what, ty, quote!(state), init)
    }

    /// A timeout's counters, registered on the function's first call: an expression of
    /// type `&'static Stats`. (Retries and fallbacks count in a `Site`, `stats_cell`.)
    fn stats(
        &mut self,
        index: usize,
        what: &str,
        register: &str,
        name: TokenStream,
    ) -> TokenStream {
        let p = self.p.clone();
        let register = Ident::new(register, Span::call_site());
        self.state_with(
            index,
            what,
            quote!(SharedStats),
            quote!(stats),
            quote!(#p::#register(#name)),
        )
    }

    /// A stateless policy's counters in this function (a `Site`), the closure that
    /// registers the policy, and the expression that gets its `Stats`.
    fn stats_cell(
        &mut self,
        index: usize,
        what: &str,
        register: &str,
        name: TokenStream,
    ) -> StatsCell {
        let p = self.p.clone();
        let register = Ident::new(register, Span::call_site());
        let cell = self.static_ident(index, what);
        self.statics.push(quote! {
            static #cell: #p::Site = #p::Site::new();
        });
        let init = quote!(|| #p::#register(#name));
        let get = quote!(#p::site_stats(&#cell, #init));
        StatsCell { cell, init, get }
    }

    fn state_with(
        &mut self,
        index: usize,
        what: &str,
        ty: TokenStream,
        getter: TokenStream,
        init: TokenStream,
    ) -> TokenStream {
        let p = self.p.clone();
        let id = self.static_ident(index, what);
        self.statics.push(quote! {
            static #id: #p::OnceLock<#p::#ty> = #p::OnceLock::new();
        });
        quote!(#p::#getter(&#id, || #init))
    }

    fn static_ident(&self, index: usize, what: &str) -> Ident {
        format_ident!("__RESILIENCE_{}_{}", what, index, span = Span::mixed_site())
    }

    /// Copies of the owned arguments, for one more use: `(statements, names)`.
    fn copies(&self, prefix: &str) -> (TokenStream, Vec<TokenStream>) {
        let p = &self.p;
        let mut stmts = TokenStream::new();
        let mut names = Vec::new();
        if let Some(receiver) = self.function.receiver {
            match receiver {
                Receiver::Borrowed => names.push(quote!(self)),
                Receiver::Owned { span, .. } => {
                    let alias = Ident::new(&self.self_alias.to_string(), span);
                    let copy = format_ident!("{}self", prefix, span = Span::mixed_site());
                    stmts.extend([quote_spanned! {span=>
                        let #copy = #p::CloneArg::clone_arg(&#alias);
                    }]);
                    names.push(copy.into_token_stream());
                }
            }
        }
        for (i, param) in self.function.params.iter().enumerate() {
            let binding = &param.binding;
            if param.by_ref {
                names.push(binding.to_token_stream());
                continue;
            }
            let copy = format_ident!("{}{}", prefix, i, span = Span::mixed_site());
            stmts.extend([quote_spanned! {param.span=>
                let #copy = #p::CloneArg::clone_arg(&#binding);
            }]);
            names.push(copy.into_token_stream());
        }
        (stmts, names)
    }

    /// The retry loop, as statements.
    fn retry(&mut self, index: usize, args: &RetryArgs, inner: TokenStream) -> TokenStream {
        let krate = self.krate.clone();
        let krate = &krate;
        let p = &self.p.clone();
        let max_attempts = args.max_attempts.clone().unwrap_or_else(|| quote!(3));
        let dur = |d: &Option<crate::lit::DurationArg>, default: TokenStream| {
            d.as_ref().map_or(default, |d| d.tokens(krate))
        };
        let backoff = match &args.backoff {
            BackoffArg::Default => quote!(#p::Exponential::new(
                #p::Duration::from_millis(100), 2.0, #p::Duration::from_secs(10))),
            BackoffArg::None => quote!(#p::NoBackoff),
            BackoffArg::Fixed(d) => {
                let d = d.tokens(krate);
                quote!(#p::Fixed::new(#d))
            }
            BackoffArg::Linear { initial, step, max } => {
                let initial_default = quote!(#p::Duration::from_millis(100));
                let step = step
                    .as_ref()
                    .or(initial.as_ref())
                    .map_or_else(|| initial_default.clone(), |d| d.tokens(krate));
                let initial = dur(initial, initial_default);
                let max = dur(max, quote!(#p::Duration::from_secs(5)));
                quote!(#p::Linear::new(#initial, #step, #max))
            }
            BackoffArg::Exponential {
                initial,
                factor,
                max,
            } => {
                let initial = dur(initial, quote!(#p::Duration::from_millis(100)));
                let factor = factor.clone().unwrap_or_else(|| quote!(2.0));
                let max = dur(max, quote!(#p::Duration::from_secs(10)));
                quote!(#p::Exponential::new(#initial, #factor, #max))
            }
            BackoffArg::Custom(expr) => expr.to_token_stream(),
        };
        let jitter = match args.jitter.unwrap_or(Jitter::Full) {
            Jitter::None => quote!(#p::Jitter::None),
            Jitter::Full => quote!(#p::Jitter::Full),
            Jitter::Equal => quote!(#p::Jitter::Equal),
            Jitter::Decorrelated => quote!(#p::Jitter::Decorrelated),
        };
        let max_elapsed = match &args.max_elapsed {
            Some(d) => {
                let d = d.tokens(krate);
                quote!(#p::Some(#d))
            }
            None => quote!(#p::None),
        };
        let retry_if = args
            .retry_if
            .as_ref()
            .map_or_else(|| quote!(#p::always), ToTokens::to_token_stream);
        let on_retry = args
            .on_retry
            .as_ref()
            .map_or_else(|| quote!(#p::no_hook), ToTokens::to_token_stream);
        let rebind = self.attempt_copies();
        let policy = Ident::new("__resilience_retry", Span::mixed_site());
        let run = Ident::new("__resilience_run", Span::mixed_site());
        let result = Ident::new("__resilience_result", Span::mixed_site());
        let delay = Ident::new("__resilience_delay", Span::mixed_site());
        let error = Ident::new("__resilience_error", Span::mixed_site());
        let is_async = self.function.is_async;
        let timed = args.max_elapsed.is_some();
        let name = self.name_or_default(&args.name);
        let budget = args.budget.as_ref().map(|b| {
            let ratio = b.ratio.clone().unwrap_or_else(|| quote!(0.2));
            let min_per_sec = b.min_per_sec.clone().unwrap_or_else(|| quote!(10));
            let window = dur(&b.window, quote!(#p::Duration::from_secs(10)));
            let settings = quote!(#p::Budget::new(#ratio, #min_per_sec, #window));
            let state = self.state_with(
                index,
                "RETRY_BUDGET",
                quote!(SharedBudget),
                quote!(budget),
                quote!(#p::retry_budget(#name, #settings)),
            );
            quote!(.budgeted(#state))
        });
        let StatsCell {
            cell,
            init,
            get: stats,
        } = self.stats_cell(index, "RETRY", "retry_stats", name);
        let hint = args
            .retry_after
            .as_ref()
            .map_or_else(|| quote!(#p::no_hint), ToTokens::to_token_stream);
        let new_policy = quote!(#p::Retry::new(#max_attempts, #backoff, #jitter, #max_elapsed));
        // The policy is built where it is used, after a failed attempt: a call that
        // succeeds never builds it, and it is not held across the attempt.
        if is_async {
            quote! {
                let mut #run = #p::RetryRun::start(#timed) #budget;
                loop {
                    #rebind
                    match #inner.await {
                        #p::Ok(#result) => break #p::retry_ok(&#run, &#cell, #init, #result),
                        #p::Err(#error) => {
                            #run = #run.counted(#stats);
                            let #policy = #new_policy;
                            match #run.failed(&#policy, #error, #retry_if, #hint, #on_retry) {
                                #p::ControlFlow::Break(#result) => break #result,
                                // A drain during the sleep: no further attempt, the error it has.
                                #p::ControlFlow::Continue((#delay, #error)) => {
                                    if let #p::Some(#error) = #p::pause(#delay, #error).await {
                                        break #run.stopped(#error);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        } else {
            // A failed attempt's whole path is one call out of line, sleep included.
            quote! {
                let mut #run = #p::RetryRun::start_blocking(#timed) #budget;
                loop {
                    #rebind
                    match #inner {
                        #p::Ok(#result) => break #p::retry_ok(&#run, &#cell, #init, #result),
                        #p::Err(#error) => {
                            if let #p::ControlFlow::Break(#result) = #p::retry_failed_blocking(
                                &mut #run, || #stats, || #new_policy, #error, #retry_if, #hint,
                                #on_retry,
                            ) {
                                break #result;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Each attempt's own copy of every owned argument, under the argument's name.
    fn attempt_copies(&self) -> TokenStream {
        let p = &self.p;
        let mut out = TokenStream::new();
        if let Some(Receiver::Owned { span, .. }) = self.function.receiver {
            let alias = Ident::new(&self.self_alias.to_string(), span);
            out.extend([quote_spanned! {span=>
                let #alias = #p::CloneArg::clone_arg(&#alias);
            }]);
        }
        for param in &self.function.params {
            if param.by_ref || param.ignored {
                continue;
            }
            let binding = &param.binding;
            out.extend([quote_spanned! {param.span=>
                let #binding = #p::CloneArg::clone_arg(&#binding);
            }]);
        }
        out
    }

    /// The fallback's decision, as statements.
    fn fallback(&mut self, index: usize, args: &FallbackArgs, inner: TokenStream) -> TokenStream {
        let name = self.name_or_default(&args.name);
        let p = &self.p.clone();
        let StatsCell {
            cell,
            init,
            get: stats,
        } = self.stats_cell(index, "FALLBACK", "fallback_stats", name);
        let error = Ident::new("__resilience_error", Span::mixed_site());
        let (copies, value) = match &args.form {
            FallbackForm::Path(path) => {
                let (copies, names) = self.copies("__resilience_fallback_");
                // The expected signature, spelt out, so that a mismatch is reported as
                // "expected signature `fn(&Self, String, E) -> _`" at the path.
                let f = self.function;
                let output = &f.output;
                let types = f
                    .receiver
                    .map(|_| f.receiver_ty.clone())
                    .into_iter()
                    .chain(f.params.iter().map(|p| p.ty.clone()));
                let call = quote_spanned! {path.span()=>
                    <_ as #p::FallbackFn<(#(#types,)* <#output as #p::IsResult>::Err,)>>::call(
                        #path, (#(#names,)* #error,))
                };
                let call = if self.function.is_async {
                    quote_spanned!(path.span()=> #p::fallback_future(#call).await)
                } else {
                    call
                };
                (copies, call)
            }
            FallbackForm::Default(span) => (
                TokenStream::new(),
                quote_spanned!(*span=> #p::Ok(#p::Default::default())),
            ),
            FallbackForm::Value(expr) => (
                TokenStream::new(),
                quote_spanned!(expr.span()=> #p::Ok(#expr)),
            ),
        };
        let uses_error = matches!(args.form, FallbackForm::Path(_)) || args.fallback_if.is_some();
        let pattern = if uses_error {
            quote!(#error)
        } else {
            quote!(_)
        };
        let guard = args
            .fallback_if
            .as_ref()
            .map(|f| quote_spanned!(f.span()=> if #f(&#error)));
        let outcome = Ident::new("__resilience_outcome", Span::mixed_site());
        let primary = if self.function.is_async {
            quote!(#inner.await)
        } else {
            inner
        };
        quote! {
            #copies
            match #primary {
                #p::Err(#pattern) #guard => {
                    #p::fallback_used(#stats);
                    #value
                }
                #outcome => {
                    #p::count_in(&#cell, #init, &#outcome);
                    #outcome
                }
            }
        }
    }

    fn timeout(&mut self, index: usize, args: &TimeoutArgs, inner: TokenStream) -> TokenStream {
        let name = self.name_or_default(&args.name);
        let p = self.p.clone();
        let stats = self.stats(index, "TIMEOUT", "timeout_stats", name);
        let krate = &self.krate;
        let after = args
            .after
            .as_ref()
            .map_or_else(|| quote!(#p::Duration::ZERO), |d| d.tokens(krate));
        quote!(#p::timeout(#stats, #after, #inner))
    }

    fn breaker(
        &mut self,
        index: usize,
        args: &BreakerArgs,
        inner: TokenStream,
        reused: bool,
    ) -> TokenStream {
        let krate = &self.krate;
        let p = &self.p;
        let mut settings = Vec::new();
        if let Some(window) = &args.window {
            let window = match window {
                WindowArg::Count(n) => quote!(#p::Window::Count(#n)),
                WindowArg::Time(d) => {
                    let d = d.tokens(krate);
                    quote!(#p::Window::Time(#d))
                }
            };
            settings.push(("window", window));
        }
        for (method, value) in &args.settings {
            settings.push((method, value.tokens(krate)));
        }
        if let Some(probe) = &args.probe {
            // The expected signature is checked at the path.
            let path = &probe.path;
            // The runtime's path spanned at the probe too, so that a probe of the wrong
            // kind is reported there, not at the attribute.
            let at = path.span();
            let p_at: TokenStream = p
                .to_token_stream()
                .into_iter()
                .map(|mut tree| {
                    tree.set_span(at);
                    tree
                })
                .collect();
            let check = quote_spanned!(at=> #p_at::probe_fn(#path));
            let every = probe
                .every
                .as_ref()
                .map_or_else(|| quote!(#p::Duration::from_secs(1)), |d| d.tokens(krate));
            settings.push(("probe", quote!(#check, #every)));
            if let Some(timeout) = &probe.timeout {
                settings.push(("probe_timeout", timeout.tokens(krate)));
            }
        }
        let record_if = args
            .record_if
            .as_ref()
            .map_or_else(|| quote!(#p::always), ToTokens::to_token_stream);
        let stateful = Stateful {
            index,
            kind: "BREAKER",
            ty: "CircuitBreaker",
            name: &args.name,
            settings,
            key: args.key.as_ref(),
            max_keys: args.max_keys.as_ref(),
            call: ("call_with", "call_blocking_with"),
            before_inner: quote!(#record_if,),
        };
        self.stateful(stateful, inner, reused)
    }

    fn bulkhead(
        &mut self,
        index: usize,
        args: &BulkheadArgs,
        inner: TokenStream,
        reused: bool,
    ) -> TokenStream {
        let krate = &self.krate;
        let p = &self.p;
        let mut settings = Vec::new();
        match &args.max_concurrent {
            Some(ConcurrencyArg::Fixed(n)) => settings.push(("max_concurrent", n.clone())),
            Some(ConcurrencyArg::Adaptive { initial, min, max }) => {
                let initial = initial.clone().unwrap_or_else(|| quote!(20));
                let min = min.clone().unwrap_or_else(|| quote!(1));
                let max = max.clone().unwrap_or_else(|| quote!(200));
                settings.push(("adaptive", quote!(#p::Adaptive::new(#initial, #min, #max))));
            }
            None => {}
        }
        if let Some(d) = &args.max_wait {
            settings.push(("max_wait", d.tokens(krate)));
        }
        if let Some(n) = &args.max_waiting {
            settings.push(("max_waiting", n.clone()));
        }
        let stateful = Stateful {
            index,
            kind: "BULKHEAD",
            ty: "Bulkhead",
            name: &args.name,
            settings,
            key: None,
            max_keys: None,
            call: ("call", "call_blocking"),
            before_inner: TokenStream::new(),
        };
        self.stateful(stateful, inner, reused)
    }

    fn rate_limit(
        &mut self,
        index: usize,
        args: &RateLimitArgs,
        inner: TokenStream,
        reused: bool,
    ) -> TokenStream {
        let krate = &self.krate;
        let mut settings = Vec::new();
        if let Some(rate) = &args.rate {
            settings.push(("rate", rate.tokens(krate)));
        }
        if let Some(n) = &args.burst {
            settings.push(("burst", n.clone()));
        }
        if let Some(d) = &args.max_wait {
            settings.push(("max_wait", d.tokens(krate)));
        }
        for (method, value) in &args.cluster {
            settings.push((method, value.tokens(krate)));
        }
        // `cost = expr`: evaluated per call, before the layers below take the arguments.
        let (call, before_inner) = match &args.cost {
            Some(cost) => (("call_n", "call_blocking_n"), quote!(#cost,)),
            None => (("call", "call_blocking"), TokenStream::new()),
        };
        let stateful = Stateful {
            index,
            kind: "RATE_LIMIT",
            ty: "RateLimiter",
            name: &args.name,
            settings,
            key: args.key.as_ref(),
            max_keys: args.max_keys.as_ref(),
            call,
            before_inner,
        };
        self.stateful(stateful, inner, reused)
    }

    /// `#[cache]`: the cache, built once, then called with the key (`()` without one)
    /// and the layers below. The `Ok` type's bound is checked at the return type.
    fn cache(
        &mut self,
        index: usize,
        args: &CacheArgs,
        inner: TokenStream,
        reused: bool,
    ) -> TokenStream {
        let krate = &self.krate;
        let p = &self.p;
        let name = self.name_or_default(&args.name);
        let mut builder = quote!(#p::Cache::builder(#name));
        if let Some(d) = &args.ttl {
            let d = d.tokens(krate);
            builder.extend(quote!(.ttl(#d)));
        }
        if let Some(d) = &args.stale_if_error {
            let d = d.tokens(krate);
            builder.extend(quote!(.stale_if_error(#d)));
        }
        if let Some(n) = &args.max_keys {
            builder.extend(quote!(.max_keys(#n)));
        }
        let state = self.state(
            index,
            "CACHE",
            quote!(Cache),
            quote!(#builder.register_clamped()),
        );
        let key = args
            .key
            .as_ref()
            .map_or_else(|| quote!(()), ToTokens::to_token_stream);
        let inner = self.deferred(inner, reused);
        let output = &self.function.output;
        let call = if self.function.is_async {
            "cache_call"
        } else {
            "cache_call_blocking"
        };
        // At the return type: an `Ok` type that is not `Clone` is reported there.
        let span = output.span();
        let p = self.p.respanned(span);
        let call = Ident::new(call, span);
        quote_spanned!(span=> #p::#call(#state, #key, #inner))
    }

    /// `#[hedge]`: async only (checked in `valid`). Each copy is made by a closure that
    /// takes its own copy of every owned argument, as each attempt of a retry does.
    fn hedge(&mut self, index: usize, args: &HedgeArgs, inner: TokenStream) -> TokenStream {
        let krate = &self.krate;
        let p = &self.p;
        let name = self.name_or_default(&args.name);
        let mut builder = quote!(#p::Hedge::builder(#name));
        match &args.delay {
            Some(HedgeDelayArg::Fixed(d)) => {
                let d = d.tokens(krate);
                builder.extend(quote!(.delay(#d)));
            }
            Some(HedgeDelayArg::Percentile(n)) => builder.extend(quote!(.percentile(#n))),
            None => {}
        }
        if let Some(n) = &args.max_hedges {
            builder.extend(quote!(.max_hedges(#n)));
        }
        let state = self.state(
            index,
            "HEDGE",
            quote!(Hedge),
            quote!(#builder.register_clamped()),
        );
        let copies = self.attempt_copies();
        let p = &self.p;
        quote!(#p::hedge_call(#state, || { #copies #inner }))
    }

    /// `#[coalesce]`: async only (checked in `valid`).
    fn coalesce(&mut self, index: usize, args: &CoalesceArgs, inner: TokenStream) -> TokenStream {
        let p = &self.p;
        let name = self.name_or_default(&args.name);
        let state = self.state(
            index,
            "COALESCE",
            quote!(Coalesce),
            quote!(#p::Coalesce::builder(#name).register_clamped()),
        );
        let key = args
            .key
            .as_ref()
            .map_or_else(|| quote!(()), ToTokens::to_token_stream);
        let p = &self.p;
        let output = &self.function.output;
        let span = output.span();
        let p = p.respanned(span);
        quote_spanned!(span=> #p::coalesce_call(#state, #key, #inner))
    }

    /// A policy with state of its own (breaker, bulkhead, rate limiter): built once
    /// from its builder and kept for the function (keyed: `.keyed()`, one per key),
    /// then called with the layers below.
    fn stateful(&mut self, s: Stateful<'_>, inner: TokenStream, reused: bool) -> TokenStream {
        let p = &self.p;
        let name = self.name_or_default(s.name);
        let ty = Ident::new(s.ty, Span::call_site());
        let methods = s
            .settings
            .iter()
            .map(|(m, _)| Ident::new(m, Span::call_site()));
        let values = s.settings.iter().map(|(_, v)| v);
        let builder = quote!(#p::#ty::builder(#name) #(.#methods(#values))*);
        let (state_ty, init, key) = match s.key {
            None => (quote!(#ty), quote!(#builder.register_clamped()), None),
            Some(key) => {
                let keyed = Ident::new(&format!("Keyed{}", s.ty), Span::call_site());
                let max_keys = s.max_keys.map(|n| quote!(.max_keys(#n)));
                let init = quote!(#builder.keyed() #max_keys .register_clamped());
                (quote!(#keyed), init, Some(quote!(#key,)))
            }
        };
        let state = self.state(s.index, s.kind, state_ty, init);
        let inner = self.deferred(inner, reused);
        let call = self.call_method(s.call.0, s.call.1);
        let before_inner = s.before_inner;
        quote!(#state.#call(#key #before_inner #inner))
    }
}

/// Tokens spliced into the output many times (the runtime's path): kept as a list of
/// trees, which `quote!` appends one by one, where a `TokenStream` is spliced in whole,
/// at several times the cost through the compiler's bridge.
#[derive(Clone)]
struct Trees(Vec<proc_macro2::TokenTree>);

impl Trees {
    /// The same tokens, at `span` (where an error about the call they start is shown).
    fn respanned(&self, span: Span) -> Trees {
        Trees(
            self.0
                .iter()
                .cloned()
                .map(|mut t| {
                    t.set_span(span);
                    t
                })
                .collect(),
        )
    }
}

impl ToTokens for Trees {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(self.0.iter().cloned());
    }
}

/// How a layer is written.
#[derive(Clone, Copy)]
enum Form {
    /// A future (the layers of an async function).
    Future,
    /// An expression (the layers of a plain function).
    Expression,
    /// Statements ending in the result, for the function's own body.
    Statements,
}

/// A stateless policy's counters in one function: their static, the closure that
/// registers the policy, and the expression that gets its `Stats` (registering it if
/// need be).
struct StatsCell {
    cell: Ident,
    init: TokenStream,
    get: TokenStream,
}

/// What [`Generator::stateful`] needs to know of a policy.
struct Stateful<'a> {
    index: usize,
    /// Part of the name of the `static` that holds it.
    kind: &'static str,
    /// The runtime type (`Keyed` + it when keyed).
    ty: &'static str,
    name: &'a Option<TokenStream>,
    /// Builder methods and their arguments, in order.
    settings: Vec<(&'static str, TokenStream)>,
    key: Option<&'a syn::Expr>,
    max_keys: Option<&'a TokenStream>,
    /// The call method, async and blocking.
    call: (&'static str, &'static str),
    /// Arguments of the call between the key and the layers below (`record_if`).
    before_inner: TokenStream,
}

/// Whether a layer runs what is below it more than once, or hands the arguments to a
/// second function.
fn reuses_arguments(layer: &Layer) -> bool {
    match &layer.policy {
        Policy::Retry(_) | Policy::Hedge(_) => true,
        Policy::Fallback(f) => matches!(f.form, FallbackForm::Path(_)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(kind: Kind, args: &str, item: &str) -> String {
        attribute(kind, args.parse().unwrap(), item.parse().unwrap()).to_string()
    }

    #[test]
    fn the_body_is_emitted_once_whatever_the_stack() {
        let item = r#"
            #[circuit_breaker(name = "b")]
            #[timeout("1s")]
            #[bulkhead(max_concurrent = 2)]
            async fn f(&self, a: String) -> Result<u32, E> { unique_marker(a) }
        "#;
        for kind in [Kind::Retry, Kind::Fallback] {
            let args = if kind == Kind::Fallback {
                "Self::backup"
            } else {
                ""
            };
            let out = expand(kind, args, item);
            assert_eq!(out.matches("unique_marker").count(), 1, "{out}");
            assert!(!out.contains("compile_error"), "{out}");
        }
    }

    #[test]
    fn stacked_attributes_are_expanded_once_and_their_imports_kept_used() {
        let out = expand(
            Kind::Retry,
            "",
            r#"#[timeout("1s")] #[doc = "kept"] async fn f() -> Result<(), E> { Ok(()) }"#,
        );
        assert!(!out.contains("# [timeout"), "{out}");
        assert!(out.contains("use timeout as _ ;"), "{out}");
        assert!(out.contains("doc = \"kept\""), "{out}");
        let again = expand(Kind::Timeout, EXPANDED, "fn g() {}");
        assert_eq!(
            again, "fn g () { }",
            "a marker expands to the item unchanged"
        );
    }

    #[test]
    fn a_plain_function_with_only_retries_and_fallbacks_stays_inlinable() {
        let inline = |out: &str| out.matches("# [inline").count();
        let plain = "fn f() -> Result<(), E> { Ok(()) }";
        assert_eq!(inline(&expand(Kind::Retry, "", plain)), 1);
        assert_eq!(inline(&expand(Kind::Fallback, "default", plain)), 1);
        let stacked = "#[fallback(default)] fn f() -> Result<(), E> { Ok(()) }";
        assert_eq!(inline(&expand(Kind::Retry, "", stacked)), 1);
        // The user's own hint is kept as it is.
        let own = "#[inline(never)] fn f() -> Result<(), E> { Ok(()) }";
        let out = expand(Kind::Retry, "", own);
        assert_eq!(inline(&out), 1, "{out}");
        assert!(out.contains("inline (never)"), "{out}");
        // Async functions, and stacks with a policy that keeps state, are left alone.
        let future = "async fn f() -> Result<(), E> { Ok(()) }";
        assert_eq!(inline(&expand(Kind::Retry, "", future)), 0);
        let breaker = "#[circuit_breaker] fn f() -> Result<(), E> { Ok(()) }";
        assert_eq!(inline(&expand(Kind::Retry, "", breaker)), 0);
    }

    /// Random argument lists and items, well-formed or not, never make the macro
    /// panic: it answers with code or with `compile_error!`.
    #[test]
    fn never_panics_on_random_input() {
        const ARGS: [&str; 37] = [
            "max_attempts",
            "=",
            "0",
            "3",
            ",",
            "backoff",
            "fixed",
            "(",
            ")",
            "\"1s\"",
            "\"2 parsecs\"",
            "exponential",
            "initial",
            "jitter",
            "full",
            "window",
            "count",
            "key",
            "a",
            "default",
            "value",
            "Self::x",
            "adaptive",
            "\"10/s\"",
            "burst",
            "min_calls",
            "4294967296",
            "\"4294967295/s\"",
            "\"1/h\"",
            "\"18446744073709551616ns\"",
            "\"94522879700260684295381835.9h\"",
            "ttl",
            "stale_if_error",
            "delay",
            "percentile",
            "max_hedges",
            "11",
        ];
        const ITEMS: [&str; 8] = [
            "async fn f(&self, a: String) -> Result<u32, E> { Ok(1) }",
            "fn f((a, b): (u8, u8), _: u8, mut c: Vec<u8>) -> io::Result<u8> { Ok(a) }",
            "fn f(self) -> Option<u8> { None }",
            "async fn f();",
            "struct S;",
            "const fn f() -> Result<(), E> { Ok(()) }",
            "fn f<T: Clone>(t: T, x: impl Fn()) -> Result<T, E> where T: Send { Ok(t) }",
            "fn f() -> Pin<Box<dyn Future<Output = Result<u8, E>> + Send>> { Box::pin(async move { Ok(1) }) }",
        ];
        const KINDS: [Kind; 9] = [
            Kind::Retry,
            Kind::Timeout,
            Kind::CircuitBreaker,
            Kind::Fallback,
            Kind::Bulkhead,
            Kind::RateLimit,
            Kind::Cache,
            Kind::Coalesce,
            Kind::Hedge,
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % n as u64).unwrap_or(0)
        };
        for _ in 0..3_000 {
            let args: Vec<&str> = (0..next(8)).map(|_| ARGS[next(ARGS.len())]).collect();
            let args = args.join(" ");
            let Ok(args) = args.parse::<TokenStream>() else {
                continue;
            };
            let mut item = String::new();
            if next(2) == 0 {
                item.push_str("#[timeout(\"1s\")] ");
            }
            item.push_str(ITEMS[next(ITEMS.len())]);
            let kind = KINDS[next(KINDS.len())];
            let out =
                std::panic::catch_unwind(|| attribute(kind, args.clone(), item.parse().unwrap()));
            assert!(out.is_ok(), "panicked on #[{}({args})] {item}", kind.name());
        }
    }

    #[test]
    fn errors_keep_the_function_and_report_every_mistake() {
        let out = expand(
            Kind::Retry,
            "max_attempts = 0, jiter = full",
            r#"#[timeout("2 parsecs")] async fn f() -> Result<(), E> { Ok(()) }"#,
        );
        assert!(out.contains("async fn f"), "{out}");
        assert_eq!(out.matches("compile_error").count(), 3, "{out}");
        assert!(out.contains("did you mean `jitter`"), "{out}");
    }
}
