//! The one error type of the label vocabulary: which kind of label was being read, the
//! text that was given, and what exactly is wrong with it.

use std::fmt;

/// What kind of label a parse or construction was about; used in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelKind {
    Category,
    CategorySet,
    Sensitivity,
    Level,
    Context,
    CategoryRange,
    McsPair,
}

impl fmt::Display for LabelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LabelKind::Category => "category",
            LabelKind::CategorySet => "category set",
            LabelKind::Sensitivity => "sensitivity",
            LabelKind::Level => "level",
            LabelKind::Context => "security context",
            LabelKind::CategoryRange => "category range",
            LabelKind::McsPair => "MCS category pair",
        })
    }
}

/// The precise reason a label was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("it is empty")]
    Empty,
    #[error("expected `{prefix}<number>`, found `{found}`")]
    MissingPrefix { prefix: char, found: String },
    #[error("`{found}` is not `{prefix}` followed by a decimal number without leading zeros")]
    BadNumber { prefix: char, found: String },
    #[error("category c{value} is out of range (c0..c1023)")]
    CategoryOutOfRange { value: u64 },
    #[error("sensitivity s{value} is out of range (s0..s15)")]
    SensitivityOutOfRange { value: u64 },
    #[error("range c{first}.c{last} is empty: its first category must be below its last")]
    EmptyCategoryRange { first: u16, last: u16 },
    #[error("categories out of order: c{next} follows c{previous} (lists are written ascending)")]
    CategoriesOutOfOrder { previous: u16, next: u16 },
    #[error("category c{category} appears twice")]
    DuplicateCategory { category: u16 },
    #[error("empty element in category list (stray `,` or `.`)")]
    EmptyListElement,
    #[error("high level {high} does not dominate low level {low}")]
    HighDoesNotDominateLow { low: String, high: String },
    #[error("more than one `-` (a range is low-high)")]
    TooManyRangeParts,
    #[error("missing the {field} field (expected user:role:type[:level])")]
    MissingContextField { field: &'static str },
    #[error("{field} `{value}` may only contain letters, digits, `_`, `-` and `.`")]
    BadName { field: &'static str, value: String },
    #[error("{field} is empty")]
    EmptyName { field: &'static str },
    #[error("expected `cFIRST.cLAST`, found `{found}`")]
    NotARange { found: String },
    #[error("an MCS pair needs exactly two categories, lowest first, found {found}")]
    NotAPair { found: String },
}

/// A label that could not be parsed or built: names the kind, the input and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} `{input}`: {problem}")]
pub struct LabelError {
    kind: LabelKind,
    input: String,
    problem: Problem,
}

impl LabelError {
    pub fn new(kind: LabelKind, input: impl Into<String>, problem: Problem) -> Self {
        LabelError {
            kind,
            input: input.into(),
            problem,
        }
    }

    /// The kind of label that was rejected.
    pub fn kind(&self) -> LabelKind {
        self.kind
    }

    /// The text that was rejected, as given.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Why it was rejected.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

/// Attach kind and input to a bare [`Problem`].
pub(crate) fn reject<T>(
    kind: LabelKind,
    input: &str,
    result: Result<T, Problem>,
) -> Result<T, LabelError> {
    result.map_err(|problem| LabelError::new(kind, input, problem))
}
