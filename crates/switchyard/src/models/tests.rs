//! Table tests for `RoutingTable`: routing in single-provider and Providers in Parallel mode,
//! the §2.9 error texts, conflict prefixing and the `/v1/models` listing.

use super::Mode::{Auto, Chat, Reasoner};
use super::ProviderKind::{self, *};
use super::ThinkingLevel::High;
use super::ThinkingOverride::{Level, Tier};
use super::ThinkingTier::{R0, R4};
use super::{Mode, ModelChoice, ModelError, ProviderModels, RoutingTable};

const NOT_ROUTABLE: &str = "Providers in Parallel requires routable model IDs, such as \
    provider-prefixed behavior IDs (for example `deepseek-auto` or `glm-chat`). Universal model \
    names like `intenserp-auto` are not valid here.";

const NOT_ROUTABLE_UMM: &str = "Providers in Parallel requires routable model IDs, such as \
    provider-prefixed behavior IDs (for example `deepseek-auto` or `glm-chat`). Universal model \
    names like `intenserp-auto` are not valid here. Universal Model Names can also expose \
    real-model IDs here; only exact conflicts get provider-prefixed forms like \
    `aistudio-gemini-3-1-pro-reasoner`.";

/// A table of running providers with the given labels.
fn table(providers: &[(ProviderKind, &[&str])], umm: bool) -> RoutingTable {
    let running = providers.iter().map(|&(provider, labels)| ProviderModels {
        provider,
        real_model_labels: labels.iter().map(|l| (*l).to_owned()).collect(),
    });
    RoutingTable::new(running, umm).expect("at least one provider runs")
}

/// A table of running providers without model labels.
fn plain(providers: &[ProviderKind], umm: bool) -> RoutingTable {
    let with_labels: Vec<(ProviderKind, &[&str])> =
        providers.iter().map(|&p| (p, &[][..])).collect();
    table(&with_labels, umm)
}

/// A plain legacy choice; tests adjust fields with struct update syntax.
fn pick(provider: ProviderKind, mode: Mode) -> ModelChoice {
    ModelChoice {
        provider,
        mode,
        expert: false,
        universal: false,
        real_model: None,
        thinking_level: None,
    }
}

fn real(provider: ProviderKind, mode: Mode, label: &str) -> ModelChoice {
    ModelChoice {
        real_model: Some(label.to_owned()),
        ..pick(provider, mode)
    }
}

/// Routes each model and compares with the expected choice or error text.
fn check(table: &RoutingTable, cases: &[(&str, Result<ModelChoice, &str>)]) {
    for (model, expected) in cases {
        let got = table.route(model).map_err(|err| err.to_string());
        let expected = expected.clone().map_err(str::to_owned);
        assert_eq!(got, expected, "route({model:?})");
    }
}

fn listing(table: &RoutingTable) -> Vec<(String, &'static str)> {
    table
        .list()
        .into_iter()
        .map(|entry| (entry.id, entry.owned_by))
        .collect()
}

#[test]
fn every_legacy_id_routes_in_parallel() {
    let cases = [
        ("deepseek-auto", pick(DeepSeek, Auto)),
        ("deepseek-chat", pick(DeepSeek, Chat)),
        ("deepseek-reasoner", pick(DeepSeek, Reasoner)),
        (
            "deepseek-expert-auto",
            ModelChoice {
                expert: true,
                ..pick(DeepSeek, Auto)
            },
        ),
        (
            "deepseek-expert-chat",
            ModelChoice {
                expert: true,
                ..pick(DeepSeek, Chat)
            },
        ),
        (
            "deepseek-expert-reasoner",
            ModelChoice {
                expert: true,
                ..pick(DeepSeek, Reasoner)
            },
        ),
        ("glm-auto", pick(Glm, Auto)),
        ("glm-chat", pick(Glm, Chat)),
        ("glm-reasoner", pick(Glm, Reasoner)),
        ("moonshot-auto", pick(Moonshot, Auto)),
        ("moonshot-chat", pick(Moonshot, Chat)),
        ("moonshot-reasoner", pick(Moonshot, Reasoner)),
        ("qwen-auto", pick(Qwen, Auto)),
        ("qwen-chat", pick(Qwen, Chat)),
        ("qwen-reasoner", pick(Qwen, Reasoner)),
        ("perplexity-auto", pick(Perplexity, Auto)),
        ("perplexity-chat", pick(Perplexity, Chat)),
        ("perplexity-reasoner", pick(Perplexity, Reasoner)),
        ("huggingchat-auto", pick(HuggingChat, Auto)),
        ("huggingchat-chat", pick(HuggingChat, Chat)),
        ("huggingchat-reasoner", pick(HuggingChat, Reasoner)),
        ("aistudio-auto", pick(AiStudio, Auto)),
        ("aistudio-chat", pick(AiStudio, Chat)),
        ("aistudio-reasoner", pick(AiStudio, Reasoner)),
        ("mimo-auto", pick(Mimo, Auto)),
        ("mimo-chat", pick(Mimo, Chat)),
        ("mimo-reasoner", pick(Mimo, Reasoner)),
    ];
    // Legacy IDs route the same with UMM off, and with UMM on and every default label present.
    let defaults = ProviderKind::ALL
        .map(|k| ProviderModels::with_labels(k, crate::providers::spec(k).site.models));
    for all in [
        plain(&ProviderKind::ALL, false),
        RoutingTable::new(defaults, true).expect("eight providers"),
    ] {
        assert!(all.is_parallel());
        for (model, expected) in &cases {
            assert_eq!(all.route(model), Ok(expected.clone()), "route({model:?})");
        }
    }
}

#[test]
fn parallel_matching_ignores_case_and_whitespace() {
    let runtime = plain(&[DeepSeek, Glm, AiStudio], false);
    check(
        &runtime,
        &[
            (
                "  DeepSeek-Expert-Reasoner \n",
                Ok(ModelChoice {
                    expert: true,
                    ..pick(DeepSeek, Reasoner)
                }),
            ),
            ("GLM-CHAT", Ok(pick(Glm, Chat))),
            ("\tglm-Auto", Ok(pick(Glm, Auto))),
            (
                "AiStudio-Reasoner-HIGH ",
                Ok(ModelChoice {
                    thinking_level: Some(Level(High)),
                    ..pick(AiStudio, Reasoner)
                }),
            ),
            ("glm - chat", Err(NOT_ROUTABLE)),
        ],
    );
}

#[test]
fn parallel_refusals() {
    let legacy = plain(&[DeepSeek, Qwen], false);
    check(
        &legacy,
        &[
            ("gpt-4o", Err(NOT_ROUTABLE)),
            ("", Err(NOT_ROUTABLE)),
            ("intenserp-auto", Err(NOT_ROUTABLE)),
            ("intenserp-expert-chat", Err(NOT_ROUTABLE)),
            ("qwen3-5-plus-auto", Err(NOT_ROUTABLE)),
            ("deepseek-auto-high", Err(NOT_ROUTABLE)),
            (
                "glm-chat",
                Err("Provider `GLM Chat` is not enabled in Providers in Parallel."),
            ),
            (
                " MOONSHOT-AUTO ",
                Err("Provider `Moonshot` is not enabled in Providers in Parallel."),
            ),
            (
                "perplexity-reasoner",
                Err("Provider `Perplexity` is not enabled in Providers in Parallel."),
            ),
            (
                "huggingchat-chat",
                Err("Provider `HuggingChat` is not enabled in Providers in Parallel."),
            ),
            (
                "aistudio-auto",
                Err("Provider `Google AI Studio` is not enabled in Providers in Parallel."),
            ),
            (
                "aistudio-auto-r4",
                Err("Provider `Google AI Studio` is not enabled in Providers in Parallel."),
            ),
            (
                "mimo-reasoner",
                Err("Provider `Xiaomi MiMo` is not enabled in Providers in Parallel."),
            ),
        ],
    );
    let umm = table(&[(Glm, &["GLM-5.1"]), (Mimo, &["MiMo-V2.5-Pro"])], true);
    check(
        &umm,
        &[
            ("intenserp-auto", Err(NOT_ROUTABLE_UMM)),
            ("intenserp-reasoner", Err(NOT_ROUTABLE_UMM)),
            ("gpt-4o", Err(NOT_ROUTABLE_UMM)),
            (
                "deepseek-expert-auto",
                Err("Provider `DeepSeek` is not enabled in Providers in Parallel."),
            ),
        ],
    );
    assert_eq!(
        legacy.route("gpt-4o"),
        Err(ModelError::NotRoutable { umm: false })
    );
    assert_eq!(
        legacy.route("glm-chat"),
        Err(ModelError::ProviderNotEnabled { provider: Glm })
    );
}

#[test]
fn single_provider_targets_its_provider() {
    let deepseek = plain(&[DeepSeek], false);
    assert!(!deepseek.is_parallel());
    check(
        &deepseek,
        &[
            ("deepseek-chat", Ok(pick(DeepSeek, Chat))),
            (
                " DEEPSEEK-EXPERT-AUTO",
                Ok(ModelChoice {
                    expert: true,
                    ..pick(DeepSeek, Auto)
                }),
            ),
            (
                "glm-auto",
                Err(
                    "Unsupported model `glm-auto` for provider `DeepSeek`. Supported IDs: \
                     `deepseek-auto`, `deepseek-chat`, `deepseek-reasoner`, `deepseek-expert-auto`, \
                     `deepseek-expert-chat`, `deepseek-expert-reasoner`.",
                ),
            ),
            (
                "  GPT-4o ",
                Err(
                    "Unsupported model `GPT-4o` for provider `DeepSeek`. Supported IDs: \
                     `deepseek-auto`, `deepseek-chat`, `deepseek-reasoner`, `deepseek-expert-auto`, \
                     `deepseek-expert-chat`, `deepseek-expert-reasoner`.",
                ),
            ),
            (
                "intenserp-auto",
                Err(
                    "Unsupported model `intenserp-auto` for provider `DeepSeek`. Supported IDs: \
                     `deepseek-auto`, `deepseek-chat`, `deepseek-reasoner`, `deepseek-expert-auto`, \
                     `deepseek-expert-chat`, `deepseek-expert-reasoner`.",
                ),
            ),
        ],
    );
    let aistudio = plain(&[AiStudio], false);
    check(
        &aistudio,
        &[(
            "",
            Err(
                "Unsupported model `<empty>` for provider `Google AI Studio`. Supported IDs: \
                 `aistudio-auto`, `aistudio-chat`, `aistudio-reasoner`. Google AI Studio also \
                 accepts legacy IDs with Thinking Level suffixes like `aistudio-auto-high` or \
                 `aistudio-auto-r4`.",
            ),
        )],
    );
    let glm = table(&[(Glm, &["GLM-5.1"])], true);
    check(
        &glm,
        &[(
            "deepseek-auto",
            Err(
                "Unsupported model `deepseek-auto` for provider `GLM Chat`. Supported IDs: \
                 `intenserp-auto`, `intenserp-reasoner`, `intenserp-chat`, `glm-5-1-auto`, \
                 `glm-5-1-reasoner`, `glm-5-1-chat`. Provider-prefixed IDs are also still \
                 accepted.",
            ),
        )],
    );
    assert_eq!(
        glm.route("x"),
        Err(ModelError::Unsupported {
            model: "x".to_owned(),
            provider: Glm,
            supported: [
                "intenserp-auto",
                "intenserp-reasoner",
                "intenserp-chat",
                "glm-5-1-auto",
                "glm-5-1-reasoner",
                "glm-5-1-chat"
            ]
            .map(str::to_owned)
            .to_vec(),
            note_prefixed: true,
        })
    );
}

#[test]
fn universal_names_only_with_umm_in_single_mode() {
    let universal = |provider, mode| ModelChoice {
        universal: true,
        ..pick(provider, mode)
    };
    let deepseek = plain(&[DeepSeek], true);
    check(
        &deepseek,
        &[
            ("intenserp-auto", Ok(universal(DeepSeek, Auto))),
            ("Intenserp-Chat", Ok(universal(DeepSeek, Chat))),
            ("intenserp-reasoner", Ok(universal(DeepSeek, Reasoner))),
            (
                "intenserp-expert-auto",
                Ok(ModelChoice {
                    expert: true,
                    ..universal(DeepSeek, Auto)
                }),
            ),
            (
                "intenserp-expert-chat",
                Ok(ModelChoice {
                    expert: true,
                    ..universal(DeepSeek, Chat)
                }),
            ),
            (
                "intenserp-expert-reasoner",
                Ok(ModelChoice {
                    expert: true,
                    ..universal(DeepSeek, Reasoner)
                }),
            ),
            ("deepseek-reasoner", Ok(pick(DeepSeek, Reasoner))),
        ],
    );
    let moonshot = table(&[(Moonshot, &["Kimi K3", "K2.8"])], true);
    check(
        &moonshot,
        &[
            ("intenserp-reasoner", Ok(universal(Moonshot, Reasoner))),
            ("moonshot-chat", Ok(pick(Moonshot, Chat))),
            ("kimi-k3-reasoner", Ok(real(Moonshot, Reasoner, "Kimi K3"))),
            ("k2-8-chat", Ok(real(Moonshot, Chat, "K2.8"))),
            ("moonshot-kimi-k3-auto", Ok(real(Moonshot, Auto, "Kimi K3"))),
            (
                "intenserp-expert-auto",
                Err(
                    "Unsupported model `intenserp-expert-auto` for provider `Moonshot`. Supported \
                     IDs: `intenserp-auto`, `intenserp-reasoner`, `intenserp-chat`, \
                     `kimi-k3-auto`, `kimi-k3-reasoner`, `kimi-k3-chat`, `k2-8-auto`, \
                     `k2-8-reasoner`, `k2-8-chat`. Provider-prefixed IDs are also still accepted.",
                ),
            ),
        ],
    );
}

#[test]
fn single_provider_real_model_ids() {
    let labels: &[&str] = &["Gemini 3.1 Pro", "Gemini 3 Flash"];
    let aistudio = table(&[(AiStudio, labels)], true);
    check(
        &aistudio,
        &[
            (
                "gemini-3-1-pro-reasoner",
                Ok(real(AiStudio, Reasoner, "Gemini 3.1 Pro")),
            ),
            (
                "AISTUDIO-gemini-3-flash-chat",
                Ok(real(AiStudio, Chat, "Gemini 3 Flash")),
            ),
            (
                "gemini-3-1-pro-reasoner-r4",
                Ok(ModelChoice {
                    thinking_level: Some(Tier(R4)),
                    ..real(AiStudio, Reasoner, "Gemini 3.1 Pro")
                }),
            ),
            (
                "aistudio-gemini-3-flash-auto-high",
                Ok(ModelChoice {
                    thinking_level: Some(Level(High)),
                    ..real(AiStudio, Auto, "Gemini 3 Flash")
                }),
            ),
            (
                "aistudio-chat-r0",
                Ok(ModelChoice {
                    thinking_level: Some(Tier(R0)),
                    ..pick(AiStudio, Chat)
                }),
            ),
            (
                "intenserp-auto-high",
                Err(
                    "Unsupported model `intenserp-auto-high` for provider `Google AI Studio`. \
                     Supported IDs: `intenserp-auto`, `intenserp-reasoner`, `intenserp-chat`, \
                     `gemini-3-1-pro-auto`, `gemini-3-1-pro-reasoner`, `gemini-3-1-pro-chat`, \
                     `gemini-3-flash-auto`, `gemini-3-flash-reasoner`, `gemini-3-flash-chat`. \
                     Provider-prefixed IDs are also still accepted. Google AI Studio also accepts \
                     legacy IDs with Thinking Level suffixes like `aistudio-auto-high` or \
                     `aistudio-auto-r4`.",
                ),
            ),
        ],
    );
    // With UMM off the labels mean nothing.
    let legacy = table(&[(AiStudio, labels)], false);
    assert!(matches!(
        legacy.route("gemini-3-1-pro-reasoner"),
        Err(ModelError::Unsupported {
            note_prefixed: false,
            ..
        })
    ));
    let glm = table(&[(Glm, &["GLM-5.1"])], true);
    check(
        &glm,
        &[
            ("glm-5-1-auto", Ok(real(Glm, Auto, "GLM-5.1"))),
            (
                "glm-5-1-chat-high",
                Err(
                    "Unsupported model `glm-5-1-chat-high` for provider `GLM Chat`. Supported IDs: `intenserp-auto`, `intenserp-reasoner`, `intenserp-chat`, `glm-5-1-auto`, `glm-5-1-reasoner`, `glm-5-1-chat`. Provider-prefixed IDs are also still accepted.",
                ),
            ),
            (
                "glm-glm-5-1-auto",
                Err(
                    "Unsupported model `glm-glm-5-1-auto` for provider `GLM Chat`. Supported IDs: `intenserp-auto`, `intenserp-reasoner`, `intenserp-chat`, `glm-5-1-auto`, `glm-5-1-reasoner`, `glm-5-1-chat`. Provider-prefixed IDs are also still accepted.",
                ),
            ),
        ],
    );
    let qwen = table(&[(Qwen, &["Qwen3.5-Plus"])], true);
    check(
        &qwen,
        &[
            (
                "qwen3-5-plus-reasoner",
                Ok(real(Qwen, Reasoner, "Qwen3.5-Plus")),
            ),
            (
                "qwen-qwen3-5-plus-reasoner",
                Ok(real(Qwen, Reasoner, "Qwen3.5-Plus")),
            ),
        ],
    );
}

#[test]
fn conflicting_real_models_are_prefixed() {
    let perplexity: &[&str] = &["Best (Auto)", "Gemini 3.1 Pro"];
    let aistudio: &[&str] = &["Gemini 3.1 Pro", "Gemini 3 Flash"];
    let runtime = table(&[(Perplexity, perplexity), (AiStudio, aistudio)], true);
    assert_eq!(
        listing(&runtime),
        [
            ("perplexity-auto", "perplexity"),
            ("perplexity-chat", "perplexity"),
            ("perplexity-reasoner", "perplexity"),
            ("best-auto-auto", "perplexity"),
            ("best-auto-reasoner", "perplexity"),
            ("best-auto-chat", "perplexity"),
            ("perplexity-gemini-3-1-pro-auto", "perplexity"),
            ("perplexity-gemini-3-1-pro-reasoner", "perplexity"),
            ("perplexity-gemini-3-1-pro-chat", "perplexity"),
            ("aistudio-auto", "aistudio"),
            ("aistudio-chat", "aistudio"),
            ("aistudio-reasoner", "aistudio"),
            ("aistudio-gemini-3-1-pro-auto", "aistudio"),
            ("aistudio-gemini-3-1-pro-reasoner", "aistudio"),
            ("aistudio-gemini-3-1-pro-chat", "aistudio"),
            ("gemini-3-flash-auto", "aistudio"),
            ("gemini-3-flash-reasoner", "aistudio"),
            ("gemini-3-flash-chat", "aistudio"),
        ]
        .map(|(id, owner)| (id.to_owned(), owner))
    );
    check(
        &runtime,
        &[
            (
                "perplexity-gemini-3-1-pro-reasoner",
                Ok(real(Perplexity, Reasoner, "Gemini 3.1 Pro")),
            ),
            (
                "AISTUDIO-GEMINI-3-1-PRO-AUTO",
                Ok(real(AiStudio, Auto, "Gemini 3.1 Pro")),
            ),
            ("best-auto-chat", Ok(real(Perplexity, Chat, "Best (Auto)"))),
            (
                "gemini-3-flash-reasoner",
                Ok(real(AiStudio, Reasoner, "Gemini 3 Flash")),
            ),
            (
                "aistudio-gemini-3-1-pro-reasoner-high",
                Ok(ModelChoice {
                    thinking_level: Some(Level(High)),
                    ..real(AiStudio, Reasoner, "Gemini 3.1 Pro")
                }),
            ),
            (
                "gemini-3-flash-chat-r0",
                Ok(ModelChoice {
                    thinking_level: Some(Tier(R0)),
                    ..real(AiStudio, Chat, "Gemini 3 Flash")
                }),
            ),
            ("perplexity-chat", Ok(pick(Perplexity, Chat))),
            ("gemini-3-1-pro-reasoner", Err(NOT_ROUTABLE_UMM)),
            ("gemini-3-1-pro-auto", Err(NOT_ROUTABLE_UMM)),
            ("perplexity-best-auto-auto", Err(NOT_ROUTABLE_UMM)),
            ("aistudio-gemini-3-flash-chat", Err(NOT_ROUTABLE_UMM)),
            (
                "perplexity-gemini-3-1-pro-reasoner-high",
                Err(NOT_ROUTABLE_UMM),
            ),
            ("best-auto-auto-high", Err(NOT_ROUTABLE_UMM)),
            ("perplexity-auto-r1", Err(NOT_ROUTABLE_UMM)),
        ],
    );
}

#[test]
fn conflict_prefix_is_never_doubled() {
    let runtime = table(
        &[
            (Glm, &["GLM-5.1"]),
            (Qwen, &["Qwen3.5-Plus"]),
            (HuggingChat, &["GLM-5.1", "Qwen3.5-Plus", "DeepSeek"]),
            (DeepSeek, &["ignored: DeepSeek has no real-model IDs"]),
        ],
        true,
    );
    let ids: Vec<String> = listing(&runtime)
        .into_iter()
        .filter(|(_, owner)| *owner != "deepseek")
        .map(|(id, owner)| format!("{owner}: {id}"))
        .collect();
    assert_eq!(
        ids,
        [
            "glm: glm-auto",
            "glm: glm-chat",
            "glm: glm-reasoner",
            "glm: glm-5-1-auto",
            "glm: glm-5-1-reasoner",
            "glm: glm-5-1-chat",
            "qwen: qwen-auto",
            "qwen: qwen-chat",
            "qwen: qwen-reasoner",
            "qwen: qwen-qwen3-5-plus-auto",
            "qwen: qwen-qwen3-5-plus-reasoner",
            "qwen: qwen-qwen3-5-plus-chat",
            "huggingchat: huggingchat-auto",
            "huggingchat: huggingchat-chat",
            "huggingchat: huggingchat-reasoner",
            "huggingchat: huggingchat-glm-5-1-auto",
            "huggingchat: huggingchat-glm-5-1-reasoner",
            "huggingchat: huggingchat-glm-5-1-chat",
            "huggingchat: huggingchat-qwen3-5-plus-auto",
            "huggingchat: huggingchat-qwen3-5-plus-reasoner",
            "huggingchat: huggingchat-qwen3-5-plus-chat",
            "huggingchat: huggingchat-deepseek-auto",
            "huggingchat: huggingchat-deepseek-reasoner",
            "huggingchat: huggingchat-deepseek-chat",
        ]
    );
    check(
        &runtime,
        &[
            ("glm-5-1-auto", Ok(real(Glm, Auto, "GLM-5.1"))),
            (
                "huggingchat-glm-5-1-chat",
                Ok(real(HuggingChat, Chat, "GLM-5.1")),
            ),
            (
                "qwen-qwen3-5-plus-reasoner",
                Ok(real(Qwen, Reasoner, "Qwen3.5-Plus")),
            ),
            (
                "huggingchat-deepseek-auto",
                Ok(real(HuggingChat, Auto, "DeepSeek")),
            ),
            ("deepseek-auto", Ok(pick(DeepSeek, Auto))),
            ("glm-glm-5-1-auto", Err(NOT_ROUTABLE_UMM)),
            ("qwen3-5-plus-auto", Err(NOT_ROUTABLE_UMM)),
        ],
    );
}

#[test]
fn models_listing_order_and_owner() {
    let owned = |items: &[(&str, &'static str)]| -> Vec<(String, &'static str)> {
        items
            .iter()
            .map(|&(id, owner)| (id.to_owned(), owner))
            .collect()
    };
    // Single provider, UMM off: its legacy IDs; its labels are not listed.
    assert_eq!(
        listing(&table(&[(Mimo, &["MiMo-V2.5-Pro"])], false)),
        owned(&[
            ("mimo-auto", "mimo"),
            ("mimo-chat", "mimo"),
            ("mimo-reasoner", "mimo")
        ])
    );
    // Single provider, UMM on: universal names, then real-model IDs (no double prefix).
    assert_eq!(
        listing(&table(
            &[(Mimo, &["MiMo-V2.5-Pro", "MiMo-V2.5", "mimo v2.5"])],
            true
        )),
        owned(&[
            ("intenserp-auto", "mimo"),
            ("intenserp-reasoner", "mimo"),
            ("intenserp-chat", "mimo"),
            ("mimo-v2-5-pro-auto", "mimo"),
            ("mimo-v2-5-pro-reasoner", "mimo"),
            ("mimo-v2-5-pro-chat", "mimo"),
            ("mimo-v2-5-auto", "mimo"),
            ("mimo-v2-5-reasoner", "mimo"),
            ("mimo-v2-5-chat", "mimo"),
        ])
    );
    // DeepSeek with UMM on adds the Expert names and never real-model IDs.
    assert_eq!(
        listing(&table(&[(DeepSeek, &["DeepSeek V4"])], true)),
        owned(&[
            ("intenserp-auto", "deepseek"),
            ("intenserp-reasoner", "deepseek"),
            ("intenserp-chat", "deepseek"),
            ("intenserp-expert-auto", "deepseek"),
            ("intenserp-expert-reasoner", "deepseek"),
            ("intenserp-expert-chat", "deepseek"),
        ])
    );
    // Several providers: lane order, each provider's legacy IDs then its real-model IDs.
    let lanes: &[(ProviderKind, &[&str])] = &[
        (Glm, &["GLM-5.1"]),
        (DeepSeek, &[]),
        (Moonshot, &["Kimi K3"]),
    ];
    assert_eq!(
        listing(&table(lanes, true)),
        owned(&[
            ("glm-auto", "glm"),
            ("glm-chat", "glm"),
            ("glm-reasoner", "glm"),
            ("glm-5-1-auto", "glm"),
            ("glm-5-1-reasoner", "glm"),
            ("glm-5-1-chat", "glm"),
            ("deepseek-auto", "deepseek"),
            ("deepseek-chat", "deepseek"),
            ("deepseek-reasoner", "deepseek"),
            ("deepseek-expert-auto", "deepseek"),
            ("deepseek-expert-chat", "deepseek"),
            ("deepseek-expert-reasoner", "deepseek"),
            ("moonshot-auto", "moonshot"),
            ("moonshot-chat", "moonshot"),
            ("moonshot-reasoner", "moonshot"),
            ("kimi-k3-auto", "moonshot"),
            ("kimi-k3-reasoner", "moonshot"),
            ("kimi-k3-chat", "moonshot"),
        ])
    );
    // Same lanes with UMM off: legacy IDs only.
    let ids: Vec<String> = listing(&table(lanes, false))
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        ids,
        [
            "glm-auto",
            "glm-chat",
            "glm-reasoner",
            "deepseek-auto",
            "deepseek-chat",
            "deepseek-reasoner",
            "deepseek-expert-auto",
            "deepseek-expert-chat",
            "deepseek-expert-reasoner",
            "moonshot-auto",
            "moonshot-chat",
            "moonshot-reasoner",
        ]
    );
}

#[test]
fn construction() {
    assert!(RoutingTable::new(Vec::new(), true).is_none());
    // A provider given twice is one provider: single-provider rules apply.
    let twice = plain(&[AiStudio, AiStudio], false);
    assert!(!twice.is_parallel());
    assert_eq!(twice.providers(), [AiStudio]);
    assert_eq!(twice.route("aistudio-auto"), Ok(pick(AiStudio, Auto)));
    assert!(matches!(
        twice.route("glm-auto"),
        Err(ModelError::Unsupported {
            provider: AiStudio,
            ..
        })
    ));
    let two = plain(&[Mimo, DeepSeek], true);
    assert!(two.is_parallel());
    assert!(two.umm());
    assert_eq!(two.providers(), [Mimo, DeepSeek]);
}

#[test]
fn listed_real_model_id_wins_over_a_stopped_providers_legacy_id() {
    // DeepSeek is not running, so HuggingChat's "DeepSeek" label keeps its bare IDs, and an
    // exact listed match comes before the "not enabled" check.
    let runtime = table(&[(HuggingChat, &["DeepSeek"]), (Glm, &[])], true);
    check(
        &runtime,
        &[
            ("deepseek-auto", Ok(real(HuggingChat, Auto, "DeepSeek"))),
            (
                "deepseek-expert-auto",
                Err("Provider `DeepSeek` is not enabled in Providers in Parallel."),
            ),
            ("huggingchat-deepseek-auto", Err(NOT_ROUTABLE_UMM)),
        ],
    );
}

#[test]
fn dummy_ids_route_only_while_dummy_lanes_run() {
    let ids = ["dummy-instant", "dummy-slow", "dummy-flaky", "dummy-error"];
    let beside = table(&[(DeepSeek, &[]), (Dummy, &[])], true);
    let listed: Vec<String> = beside.list().into_iter().map(|m| m.id).collect();
    assert_eq!(listed[listed.len() - 4..], ids, "after the sites' IDs");
    for id in ids {
        assert_eq!(beside.route(id).map(|c| c.provider), Ok(Dummy), "{id}");
    }
    assert_eq!(
        beside.route("deepseek-chat").map(|c| c.provider),
        Ok(DeepSeek)
    );
    // Without dummy lanes: not listed, not routed, in either mode.
    for running in [&[(DeepSeek, &[][..])][..], &[(DeepSeek, &[]), (Glm, &[])]] {
        let t = table(running, false);
        assert!(t.list().iter().all(|m| !m.id.starts_with("dummy")));
        for id in ids {
            assert!(t.route(id).is_err(), "{id}");
        }
    }
    assert_eq!(
        ProviderKind::from_name("dummy"),
        None,
        "not a provider name"
    );
    assert!(!ProviderKind::ALL.contains(&Dummy));
}
