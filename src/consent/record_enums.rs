//! The record enums' mappings to and from the domain's (`records.rs`).

use super::{CategoryV1, LevelV1, RndAnswerV1, SourceV1};
use crate::domain::{Category, Level, RndAnswer, Source};

pub(super) fn level_v1(l: Option<Level>) -> LevelV1 {
    match l {
        None => LevelV1::Unspecified,
        Some(Level::Implied) => LevelV1::Implied,
        Some(Level::Express) => LevelV1::Express,
        Some(Level::ExpressWritten) => LevelV1::ExpressWritten,
    }
}

pub(super) fn level(l: LevelV1) -> Option<Level> {
    match l {
        LevelV1::Unspecified => None,
        LevelV1::Implied => Some(Level::Implied),
        LevelV1::Express => Some(Level::Express),
        LevelV1::ExpressWritten => Some(Level::ExpressWritten),
    }
}

pub(super) fn category_v1(c: Category) -> CategoryV1 {
    match c {
        Category::Conversational => CategoryV1::Conversational,
        Category::Informational => CategoryV1::Informational,
        Category::Promotional => CategoryV1::Promotional,
    }
}

pub(super) fn category(c: CategoryV1) -> Category {
    match c {
        CategoryV1::Conversational => Category::Conversational,
        CategoryV1::Informational => Category::Informational,
        CategoryV1::Promotional => Category::Promotional,
    }
}

pub(super) fn source_v1(s: Source) -> SourceV1 {
    match s {
        Source::Unspecified => SourceV1::Unspecified,
        Source::Keyword => SourceV1::Keyword,
        Source::WebForm => SourceV1::WebForm,
        Source::PaperForm => SourceV1::PaperForm,
        Source::Verbal => SourceV1::Verbal,
        Source::Api => SourceV1::Api,
        Source::Import => SourceV1::Import,
        Source::AgentAttestation => SourceV1::AgentAttestation,
    }
}

pub(super) fn source(s: SourceV1) -> Source {
    match s {
        SourceV1::Unspecified => Source::Unspecified,
        SourceV1::Keyword => Source::Keyword,
        SourceV1::WebForm => Source::WebForm,
        SourceV1::PaperForm => Source::PaperForm,
        SourceV1::Verbal => Source::Verbal,
        SourceV1::Api => Source::Api,
        SourceV1::Import => Source::Import,
        SourceV1::AgentAttestation => Source::AgentAttestation,
    }
}

pub(super) fn rnd_answer_v1(a: RndAnswer) -> RndAnswerV1 {
    match a {
        RndAnswer::Yes => RndAnswerV1::Yes,
        RndAnswer::No => RndAnswerV1::No,
        RndAnswer::NoData => RndAnswerV1::NoData,
    }
}

pub(super) fn rnd_answer(a: RndAnswerV1) -> RndAnswer {
    match a {
        RndAnswerV1::Yes => RndAnswer::Yes,
        RndAnswerV1::No => RndAnswer::No,
        RndAnswerV1::NoData => RndAnswer::NoData,
    }
}
