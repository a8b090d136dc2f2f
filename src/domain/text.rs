//! A message to a person, as data: a catalogue key and its arguments. The domain and the use cases
//! say *what* to tell (`msg!("rule-max_chars", max = 100)`); `crate::i18n` renders it in the
//! person's language from the message catalogues (zh-CN, en). No words of either language live in
//! Rust code.

/// A catalogue key with its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    pub key: &'static str,
    pub args: Vec<(&'static str, Arg)>,
}

/// One argument of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Shown as it is (a code, a date, a field name, a value the person typed).
    Text(String),
    Int(i64),
    /// Another catalogue entry, rendered in the same language (e.g. the name of a kind of object).
    Key(&'static str),
    /// A whole message, rendered in the same language and set in place (e.g. the reason inside
    /// "invalid field: reason").
    Msg(Box<Msg>),
    /// Several arguments shown as a list, in the language's way (、 or , ).
    List(Vec<Arg>),
}

impl Arg {
    /// A list of catalogue entries (e.g. the names of roles or actions).
    pub fn keys(keys: impl IntoIterator<Item = &'static str>) -> Arg {
        Arg::List(keys.into_iter().map(Arg::Key).collect())
    }
}

impl From<Msg> for Arg {
    fn from(m: Msg) -> Arg {
        Arg::Msg(Box::new(m))
    }
}

impl Msg {
    pub fn new(key: &'static str) -> Msg {
        Msg { key, args: vec![] }
    }

    pub fn with(mut self, name: &'static str, value: impl Into<Arg>) -> Msg {
        self.args.push((name, value.into()));
        self
    }
}

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Text(s.to_string())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Text(s)
    }
}

impl From<&String> for Arg {
    fn from(s: &String) -> Arg {
        Arg::Text(s.clone())
    }
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg {
            fn from(n: $t) -> Arg {
                Arg::Int(n as i64)
            }
        }
    )*};
}
int_arg!(i32, i64, u32, u64, usize);

/// `msg!("key")` or `msg!("key", name = value, …)`: a [`Msg`].
#[macro_export]
macro_rules! msg {
    ($key:literal $(, $name:ident = $val:expr)* $(,)?) => {
        $crate::domain::text::Msg { key: $key, args: vec![$((stringify!($name), $crate::domain::text::Arg::from($val))),*] }
    };
}
