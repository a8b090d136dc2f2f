//! The message catalogues (消息目录): every word a person reads, in zh-CN (the default) and English,
//! as Fluent files embedded in the binary (`zh-CN/*.ftl`, `en/*.ftl`, one file per area: errors,
//! the domain's names, pages…). Code names a message by key ([`crate::domain::text::Msg`]); this
//! module renders it.

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

use crate::domain::text::{Arg, Msg};

/// The languages user-facing text is offered in; zh-CN is the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Zh, Lang::En];

    /// Picks the language from an `Accept-Language` header: English only when it comes first.
    pub fn from_accept_language(header: Option<&str>) -> Lang {
        match header.map(|h| h.trim_start().to_ascii_lowercase()) {
            Some(h) if h.starts_with("en") => Lang::En,
            _ => Lang::Zh,
        }
    }

    /// From a stored locale (`zh-CN`, `en`): the person's own choice.
    pub fn from_locale(locale: &str) -> Lang {
        if locale.to_ascii_lowercase().starts_with("en") {
            Lang::En
        } else {
            Lang::Zh
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The catalogue's files: (name, source text).
    pub fn sources(self) -> &'static [(&'static str, &'static str)] {
        macro_rules! files {
            ($dir:literal: $($f:literal),*) => { &[$(($f, include_str!(concat!($dir, "/", $f)))),*] };
        }
        match self {
            Lang::Zh => files!("zh-CN": "errors.ftl", "rules.ftl", "domain.ftl", "pages.ftl", "notify.ftl", "reports.ftl", "ledgers.ftl"),
            Lang::En => files!("en": "errors.ftl", "rules.ftl", "domain.ftl", "pages.ftl", "notify.ftl", "reports.ftl", "ledgers.ftl"),
        }
    }
}

fn bundle(lang: Lang) -> &'static FluentBundle<FluentResource> {
    static ZH: OnceLock<FluentBundle<FluentResource>> = OnceLock::new();
    static EN: OnceLock<FluentBundle<FluentResource>> = OnceLock::new();
    let cell = match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    };
    cell.get_or_init(|| {
        let mut b = FluentBundle::new_concurrent(vec![lang.tag().parse().expect("a language tag")]);
        // Plain text: no Unicode isolation marks around arguments (they would show in JSON).
        b.set_use_isolating(false);
        for (file, source) in lang.sources() {
            let resource = FluentResource::try_new(source.to_string()).unwrap_or_else(|(_, errors)| {
                panic!("{}/{file} does not parse: {errors:?}", lang.tag());
            });
            b.add_resource(resource).unwrap_or_else(|e| panic!("{}/{file} repeats an entry: {e:?}", lang.tag()));
        }
        b
    })
}

/// Whether the catalogue of `lang` has `key`.
pub fn has(lang: Lang, key: &str) -> bool {
    bundle(lang).has_message(key)
}

/// Renders a message in a language. A key missing from the catalogue renders as the key itself
/// (and a test checks that every key used in the code is in both catalogues).
pub fn render(lang: Lang, m: &Msg) -> String {
    let b = bundle(lang);
    let Some(pattern) = b.get_message(m.key).and_then(|msg| msg.value()) else {
        return m.key.to_string();
    };
    let mut args = FluentArgs::new();
    for (name, value) in &m.args {
        let v: FluentValue = match value {
            Arg::Int(n) => FluentValue::from(*n),
            other => FluentValue::from(arg_text(lang, other)),
        };
        args.set(*name, v);
    }
    let mut errors = vec![];
    b.format_pattern(pattern, Some(&args), &mut errors).into_owned()
}

fn arg_text(lang: Lang, a: &Arg) -> String {
    match a {
        Arg::Text(s) => s.clone(),
        Arg::Int(n) => n.to_string(),
        Arg::Key(k) => render(lang, &Msg::new(k)),
        Arg::Msg(m) => render(lang, m),
        Arg::List(items) => {
            let sep = match lang {
                Lang::Zh => "、",
                Lang::En => ", ",
            };
            items.iter().map(|i| arg_text(lang, i)).collect::<Vec<_>>().join(sep)
        }
    }
}

/// The text of a key known only at run time (e.g. `event-<action>`), if the catalogue has it.
pub fn lookup(lang: Lang, key: &str) -> Option<String> {
    let b = bundle(lang);
    let pattern = b.get_message(key)?.value()?;
    let mut errors = vec![];
    Some(b.format_pattern(pattern, None, &mut errors).into_owned())
}

/// Renders a key without arguments.
pub fn text(lang: Lang, key: &'static str) -> String {
    render(lang, &Msg::new(key))
}

#[cfg(test)]
mod tests;
