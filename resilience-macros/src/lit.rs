//! Values of arguments: durations (`"250ms"`), rates (`"100/s"`), numbers and paths,
//! checked at compile time where they are literals.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{ToTokens, quote_spanned};
use syn::{Expr, Lit, Path};

use crate::args::Errors;
use crate::limits::{MAX_COUNT, MAX_DURATION_NANOS, MIN_RATE_INTERVAL_NANOS, max_duration_text};

const DURATION_HELP: &str = "write a duration like \"250ms\", \"1.5s\", \"2m\" or \"1h\" \
(units: ns, us, ms, s, m, h), or a parenthesised expression of type `Duration`, \
e.g. `(Duration::from_secs(2))`";

const RATE_HELP: &str = "write a rate like \"100/s\", \"5/min\" or \"1000/h\", \
or a parenthesised expression of type `resilience_runtime::rate_limit::Rate`";

/// Why a literal was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not written as the argument is written: the message is followed by how to.
    Form(String),
    /// Beyond what the runtime honours: the message names the limit.
    Range(String),
}

/// A duration argument: a checked literal or the user's expression.
#[derive(Clone)]
pub(crate) enum DurationArg {
    Literal { nanos: u128, span: Span },
    Expr(Expr),
}

impl DurationArg {
    pub(crate) fn tokens(&self, krate: &impl ToTokens) -> TokenStream {
        match self {
            DurationArg::Literal { nanos, span } => {
                let secs = Literal::u64_unsuffixed((nanos / 1_000_000_000) as u64);
                let sub = Literal::u32_unsuffixed((nanos % 1_000_000_000) as u32);
                quote_spanned!(*span=> #krate::__private::Duration::new(#secs, #sub))
            }
            DurationArg::Expr(e) => e.to_token_stream(),
        }
    }

    /// The value, when it is a literal.
    pub(crate) fn literal_nanos(&self) -> Option<u128> {
        match self {
            DurationArg::Literal { nanos, .. } => Some(*nanos),
            DurationArg::Expr(_) => None,
        }
    }
}

/// A duration: a string literal or a parenthesised expression.
pub(crate) fn duration(expr: &Expr, errors: &mut Errors) -> Option<DurationArg> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => match parse_duration(&s.value()) {
            Ok(nanos) => Some(DurationArg::Literal {
                nanos,
                span: s.span(),
            }),
            Err(Refused::Form(why)) => {
                errors.at(s.span(), format_args!("{why}; {DURATION_HELP}"));
                None
            }
            Err(Refused::Range(why)) => {
                errors.at(s.span(), why);
                None
            }
        },
        Expr::Paren(p) => Some(DurationArg::Expr((*p.expr).clone())),
        Expr::Path(_) | Expr::Call(_) | Expr::MethodCall(_) | Expr::Block(_) => {
            Some(DurationArg::Expr(expr.clone()))
        }
        other => {
            errors.spanned(other, format_args!("expected a duration; {DURATION_HELP}"));
            None
        }
    }
}

/// Nanoseconds in `"1.5s"`, or why it is not a duration the policies can keep (at most
/// [`MAX_DURATION_NANOS`]).
pub(crate) fn parse_duration(text: &str) -> Result<u128, Refused> {
    let text = text.trim();
    let too_long = || {
        Refused::Range(format!(
            "`{text}` is too long: a duration is at most {}, as the policies count time in 64-bit nanoseconds",
            max_duration_text()
        ))
    };
    let form = Refused::Form;
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = (&text[..split], text[split..].trim());
    if number.is_empty() {
        return Err(form(format!("`{text}` has no number")));
    }
    let unit_nanos: u128 = match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "" => return Err(form(format!("`{text}` has no unit"))),
        other => {
            let near = match other {
                "sec" | "secs" | "second" | "seconds" => Some("s"),
                "msec" | "msecs" | "millis" | "milliseconds" => Some("ms"),
                "mins" | "minute" | "minutes" => Some("m"),
                "hr" | "hrs" | "hour" | "hours" => Some("h"),
                "micros" | "microseconds" => Some("us"),
                "nanos" | "nanoseconds" => Some("ns"),
                _ => None,
            };
            return Err(form(match near {
                Some(unit) => {
                    format!("unknown unit `{other}` in `{text}` (did you mean `{number}{unit}`?)")
                }
                None => format!("unknown unit `{other}` in `{text}`"),
            }));
        }
    };
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if frac.contains('.') || (whole.is_empty() && frac.is_empty()) {
        return Err(form(format!("`{number}` is not a number")));
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_long())?
    };
    let mut nanos = whole.checked_mul(unit_nanos).ok_or_else(too_long)?;
    if nanos > MAX_DURATION_NANOS {
        // Before the fraction is added, which could overflow even a `u128` near its end.
        return Err(too_long());
    }
    let mut scale = unit_nanos;
    for digit in frac.chars() {
        scale /= 10;
        nanos += u128::from(digit.to_digit(10).unwrap_or(0)) * scale;
        if scale == 0 {
            return Err(form(format!("`{text}` is more precise than a nanosecond")));
        }
    }
    if nanos > MAX_DURATION_NANOS {
        return Err(too_long());
    }
    Ok(nanos)
}

/// A rate argument: a checked literal `"N/unit"` or the user's expression.
#[derive(Clone)]
pub(crate) enum RateArg {
    Literal {
        count: u32,
        per_nanos: u128,
        /// The literal's text, for messages.
        text: String,
        span: Span,
    },
    Expr(Expr),
}

impl RateArg {
    pub(crate) fn tokens(&self, krate: &impl ToTokens) -> TokenStream {
        match self {
            RateArg::Literal {
                count,
                per_nanos,
                span,
                ..
            } => {
                let per = DurationArg::Literal {
                    nanos: *per_nanos,
                    span: *span,
                }
                .tokens(krate);
                let count = Literal::u32_unsuffixed(*count);
                quote_spanned!(*span=> #krate::__private::Rate::new(#count, #per))
            }
            RateArg::Expr(e) => e.to_token_stream(),
        }
    }

    /// A literal's text and interval between calls at the steady pace, in nanoseconds
    /// (rounded down, as the runtime does).
    pub(crate) fn literal_interval(&self) -> Option<(&str, u128)> {
        match self {
            RateArg::Literal {
                count,
                per_nanos,
                text,
                ..
            } => Some((text, per_nanos / u128::from(*count))),
            RateArg::Expr(_) => None,
        }
    }
}

/// A rate: `"100/s"` or a parenthesised expression.
pub(crate) fn rate(expr: &Expr, errors: &mut Errors) -> Option<RateArg> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => match parse_rate(&s.value()) {
            Ok((count, per_nanos)) => Some(RateArg::Literal {
                count,
                per_nanos,
                text: s.value(),
                span: s.span(),
            }),
            Err(Refused::Form(why)) => {
                errors.at(s.span(), format_args!("{why}; {RATE_HELP}"));
                None
            }
            Err(Refused::Range(why)) => {
                errors.at(s.span(), why);
                None
            }
        },
        Expr::Paren(p) => Some(RateArg::Expr((*p.expr).clone())),
        Expr::Path(_) | Expr::Call(_) | Expr::MethodCall(_) | Expr::Block(_) => {
            Some(RateArg::Expr(expr.clone()))
        }
        other => {
            errors.spanned(other, format_args!("expected a rate; {RATE_HELP}"));
            None
        }
    }
}

/// `(count, period in nanoseconds)` in `"100/s"`, or why it is not a rate the limiter
/// can honour: calls at least [`MIN_RATE_INTERVAL_NANOS`] apart, at most
/// [`MAX_COUNT`] a period, the period at most [`MAX_DURATION_NANOS`].
pub(crate) fn parse_rate(text: &str) -> Result<(u32, u128), Refused> {
    let form = Refused::Form;
    let Some((count, unit)) = text.split_once('/') else {
        return Err(form(format!("`{text}` is not a rate (no `/`)")));
    };
    let count: u128 = count
        .trim()
        .parse()
        .map_err(|_| form(format!("`{}` is not a whole number of calls", count.trim())))?;
    if count == 0 {
        return Err(form("a rate of 0 calls admits nothing".to_string()));
    }
    let unit = unit.trim();
    let per = match unit {
        "s" | "sec" | "second" => 1_000_000_000,
        "m" | "min" | "minute" => 60_000_000_000,
        "h" | "hour" => 3_600_000_000_000,
        "d" | "day" => 86_400_000_000_000,
        other => {
            // `"10/250ms"`: a period written as a duration.
            let nanos = parse_duration(other).map_err(|e| match e {
                Refused::Form(_) => form(format!(
                    "unknown period `{other}` in `{text}` (use s, min or h)"
                )),
                Refused::Range(_) => Refused::Range(format!(
                    "the period of `{text}` is too long: it is at most {}, as the limiter counts time in 64-bit nanoseconds",
                    max_duration_text()
                )),
            })?;
            if nanos == 0 {
                return Err(form(format!("the period in `{text}` is zero")));
            }
            nanos
        }
    };
    let max = (per / MIN_RATE_INTERVAL_NANOS).min(u128::from(MAX_COUNT));
    if count > max {
        let why = if count > per / MIN_RATE_INTERVAL_NANOS {
            "the limiter spaces calls by whole nanoseconds, at least 1ns apart"
        } else {
            "the limiter counts at most 4294967295 calls a period; use a shorter period"
        };
        return Err(Refused::Range(format!(
            "`{text}` is faster than the limiter can honour: at most `\"{max}/{unit}\"` ({why})"
        )));
    }
    let count = u32::try_from(count).map_err(|_| form(format!("`{text}` is too large")))?;
    Ok((count, per))
}

/// A whole-number argument from `min` to [`MAX_COUNT`]: a checked literal or the
/// user's expression (checked, and clamped, at run time).
pub(crate) fn integer(
    expr: &Expr,
    name: &str,
    min: u64,
    errors: &mut Errors,
) -> Option<TokenStream> {
    integer_in(expr, name, (min, MAX_COUNT), "", errors)
}

/// A whole-number argument in `min..=max`: a checked literal or the user's expression
/// (checked, and clamped, at run time). `why` says where `max` comes from, e.g.
/// `" (the trial counters have 12 bits)"`.
pub(crate) fn integer_in(
    expr: &Expr,
    name: &str,
    (min, max): (u64, u64),
    why: &str,
    errors: &mut Errors,
) -> Option<TokenStream> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(int), ..
        }) => match int.base10_parse::<u128>() {
            Ok(v) if v < u128::from(min) => {
                errors.at(
                    int.span(),
                    format_args!("`{name}` must be at least {min}, not {v}"),
                );
                None
            }
            Ok(v) if v > u128::from(max) => {
                errors.at(
                    int.span(),
                    format_args!("`{name}` must be at most {max}{why}, not {v}"),
                );
                None
            }
            Ok(v) => {
                let v = u64::try_from(v).unwrap_or(max);
                let mut lit = Literal::u64_unsuffixed(v);
                lit.set_span(int.span());
                Some(lit.into_token_stream())
            }
            Err(e) => {
                errors.at(
                    int.span(),
                    format_args!("`{name}` needs a whole number: {e}"),
                );
                None
            }
        },
        Expr::Lit(other) => {
            errors.spanned(
                other,
                format_args!(
                    "`{name}` needs a whole number (at least {min}), e.g. `{name} = {}`",
                    min.max(1) * 10
                ),
            );
            None
        }
        other => Some(other.to_token_stream()),
    }
}

/// The value of a whole-number literal (none for an expression or a bad literal).
pub(crate) fn int_value(expr: &Expr) -> Option<u128> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(int), ..
        }) => int.base10_parse().ok(),
        _ => None,
    }
}

/// A real-number argument in `low..=high` (`low` excluded when `low_open`).
pub(crate) fn float(
    expr: &Expr,
    name: &str,
    (low, low_open, high): (f64, bool, f64),
    errors: &mut Errors,
) -> Option<TokenStream> {
    let (value, span) = match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Float(f), ..
        }) => (f.base10_parse::<f64>().ok(), f.span()),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => (i.base10_parse::<f64>().ok(), i.span()),
        // A negative literal is checked as one: `-1.0` is out of range, not code.
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(minus),
            expr: inner,
            ..
        }) if matches!(
            &**inner,
            Expr::Lit(syn::ExprLit {
                lit: Lit::Float(_) | Lit::Int(_),
                ..
            })
        ) =>
        {
            let value = match &**inner {
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Float(f), ..
                }) => f.base10_parse::<f64>().ok(),
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Int(i), ..
                }) => i.base10_parse::<f64>().ok(),
                _ => None,
            };
            (value.map(|v| -v), minus.span)
        }
        Expr::Lit(other) => {
            let example = if high.is_finite() {
                high / 2.0
            } else {
                low.max(1.0) * 2.0
            };
            errors.spanned(
                other,
                format_args!("`{name}` needs a number, e.g. `{name} = {example:?}`"),
            );
            return None;
        }
        other => return Some(other.to_token_stream()),
    };
    let Some(value) = value else {
        errors.at(span, format_args!("`{name}` needs a number"));
        return None;
    };
    let below = if low_open { value <= low } else { value < low };
    if below || value > high || !value.is_finite() {
        let range = if high.is_infinite() {
            format!("{}{low}", if low_open { "> " } else { ">= " })
        } else if low_open {
            format!("greater than {low} and at most {high}")
        } else {
            format!("from {low} to {high}")
        };
        errors.at(span, format_args!("`{name}` must be {range}, not {value}"));
        return None;
    }
    let mut lit = Literal::f64_suffixed(value);
    lit.set_span(span);
    Some(lit.into_token_stream())
}

/// A path to a function: `is_transient`, `Self::cached`. `example` shows the argument
/// written well, e.g. `retry_if = is_transient`.
pub(crate) fn fn_path(expr: &Expr, what: &str, example: &str, errors: &mut Errors) -> Option<Path> {
    match expr {
        Expr::Path(p) if p.qself.is_none() => Some(p.path.clone()),
        other => {
            errors.spanned(
                other,
                format_args!("{what} takes the path of a function, e.g. `{example}`"),
            );
            None
        }
    }
}

/// A string literal (a policy name).
pub(crate) fn string(expr: &Expr, name: &str, errors: &mut Errors) -> Option<TokenStream> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) if !s.value().is_empty() => Some(s.to_token_stream()),
        other => {
            errors.spanned(
                other,
                format_args!(
                    "`{name}` takes a non-empty string literal, e.g. `{name} = \"payments\"`"
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("2m"), Ok(120_000_000_000));
        assert_eq!(parse_duration("1h"), Ok(3_600_000_000_000));
        assert_eq!(parse_duration("10ns"), Ok(10));
        assert_eq!(parse_duration("0s"), Ok(0));
        assert_eq!(parse_duration(".5s"), Ok(500_000_000));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1.2.3s").is_err());
        assert!(parse_duration("0.5ns").is_err());
        assert!(parse_duration("99999999999999999999999h").is_err());
        assert_eq!(
            parse_duration("18446744073709551615ns"),
            Ok(MAX_DURATION_NANOS)
        );
        assert!(matches!(
            parse_duration("18446744073709551616ns"),
            Err(Refused::Range(_))
        ));
        assert!(matches!(parse_duration("5124096h"), Err(Refused::Range(_))));
        assert!(matches!(parse_duration("5 parsecs"), Err(Refused::Form(_))));
        // u128::MAX / 3.6e12 hours, plus a fraction: never an overflow.
        let near_u128_max = "94522879700260684295381835.9h";
        assert!(matches!(
            parse_duration(near_u128_max),
            Err(Refused::Range(_))
        ));
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("100/s"), Ok((100, 1_000_000_000)));
        assert_eq!(parse_rate("5/min"), Ok((5, 60_000_000_000)));
        assert_eq!(parse_rate("1000/h"), Ok((1000, 3_600_000_000_000)));
        assert_eq!(parse_rate("10/250ms"), Ok((10, 250_000_000)));
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("100").is_err());
        assert!(parse_rate("100/fortnight").is_err());
        assert!(parse_rate("x/s").is_err());
        assert_eq!(
            parse_rate("1000000000/s"),
            Ok((1_000_000_000, 1_000_000_000))
        );
        assert_eq!(parse_rate("4294967295/min"), Ok((u32::MAX, 60_000_000_000)));
        assert_eq!(
            parse_rate("250000000/250ms"),
            Ok((250_000_000, 250_000_000))
        );
        for over in [
            "1000000001/s",
            "4294967295/s",
            "4294967296/min",
            "250000001/250ms",
        ] {
            assert!(matches!(parse_rate(over), Err(Refused::Range(_))), "{over}");
        }
        assert!(matches!(
            parse_rate("1/18446744073709551616ns"),
            Err(Refused::Range(_))
        ));
    }
}
