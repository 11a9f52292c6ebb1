//! Values of arguments: durations (`"250ms"`), rates (`"100/s"`), numbers and paths,
//! checked at compile time where they are literals.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{ToTokens, quote_spanned};
use syn::{Expr, Lit, Path};

use crate::args::Errors;

const DURATION_HELP: &str = "write a duration like \"250ms\", \"1.5s\", \"2m\" or \"1h\" \
(units: ns, us, ms, s, m, h), or a parenthesised expression of type `Duration`, \
e.g. `(Duration::from_secs(2))`";

const RATE_HELP: &str = "write a rate like \"100/s\", \"5/min\" or \"1000/h\", \
or a parenthesised expression of type `resilience_runtime::rate_limit::Rate`";

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
            Err(why) => {
                errors.at(s.span(), format_args!("{why}; {DURATION_HELP}"));
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

/// Nanoseconds in `"1.5s"`, or why it is not a duration.
pub(crate) fn parse_duration(text: &str) -> Result<u128, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = (&text[..split], text[split..].trim());
    if number.is_empty() {
        return Err(format!("`{text}` has no number"));
    }
    let unit_nanos: u128 = match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "" => return Err(format!("`{text}` has no unit")),
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
            return Err(match near {
                Some(unit) => {
                    format!("unknown unit `{other}` in `{text}` (did you mean `{number}{unit}`?)")
                }
                None => format!("unknown unit `{other}` in `{text}`"),
            });
        }
    };
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if frac.contains('.') || (whole.is_empty() && frac.is_empty()) {
        return Err(format!("`{number}` is not a number"));
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole
            .parse()
            .map_err(|_| format!("`{number}` is too large"))?
    };
    let mut nanos = whole
        .checked_mul(unit_nanos)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    let mut scale = unit_nanos;
    for digit in frac.chars() {
        scale /= 10;
        nanos += u128::from(digit.to_digit(10).unwrap_or(0)) * scale;
        if scale == 0 {
            return Err(format!("`{text}` is more precise than a nanosecond"));
        }
    }
    if nanos > u128::from(u64::MAX) * 1_000_000_000 {
        return Err(format!("`{text}` is too large"));
    }
    Ok(nanos)
}

/// A rate argument: a checked literal `"N/unit"` or the user's expression.
#[derive(Clone)]
pub(crate) enum RateArg {
    Literal {
        count: u32,
        per_nanos: u128,
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
                span: s.span(),
            }),
            Err(why) => {
                errors.at(s.span(), format_args!("{why}; {RATE_HELP}"));
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

/// `(count, period in nanoseconds)` in `"100/s"`, or why it is not a rate.
pub(crate) fn parse_rate(text: &str) -> Result<(u32, u128), String> {
    let Some((count, unit)) = text.split_once('/') else {
        return Err(format!("`{text}` is not a rate (no `/`)"));
    };
    let count: u32 = count
        .trim()
        .parse()
        .map_err(|_| format!("`{}` is not a whole number of calls", count.trim()))?;
    if count == 0 {
        return Err("a rate of 0 calls admits nothing".to_string());
    }
    let unit = unit.trim();
    let per = match unit {
        "s" | "sec" | "second" => 1_000_000_000,
        "m" | "min" | "minute" => 60_000_000_000,
        "h" | "hour" => 3_600_000_000_000,
        "d" | "day" => 86_400_000_000_000,
        other => {
            // `"10/250ms"`: a period written as a duration.
            let nanos = parse_duration(other)
                .map_err(|_| format!("unknown period `{other}` in `{text}` (use s, min or h)"))?;
            if nanos == 0 {
                return Err(format!("the period in `{text}` is zero"));
            }
            nanos
        }
    };
    Ok((count, per))
}

/// A whole-number argument at least `min`: a checked literal or the user's expression
/// (checked, and clamped, at run time).
pub(crate) fn integer(
    expr: &Expr,
    name: &str,
    min: u64,
    errors: &mut Errors,
) -> Option<TokenStream> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(int), ..
        }) => match int.base10_parse::<u64>() {
            Ok(v) if v < min => {
                errors.at(
                    int.span(),
                    format_args!("`{name}` must be at least {min}, not {v}"),
                );
                None
            }
            Ok(v) if v > u64::from(u32::MAX) => {
                errors.at(
                    int.span(),
                    format_args!("`{name}` is too large: at most {}", u32::MAX),
                );
                None
            }
            Ok(v) => {
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
    }
}
