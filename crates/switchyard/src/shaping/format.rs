//! Formatting: how a chat becomes the one prompt a web app takes (behavior-spec §8.5, §8.6).
//!
//! # Rules
//! - **Templates.** Each message is rendered through a template with `{{name}}`, `{{role}}` and
//!   `{{content}}`, and the parts are joined with the divider. A [`Preset`] picks a built-in
//!   template; [`Preset::Custom`] uses [`FormatSettings::template`]. The built-in templates are
//!   the reference's (`config/formatting_presets.py` in `LyubomirT/intense-rp-next`):
//!
//!   | Preset | Template |
//!   |---|---|
//!   | Classic - Name / Role | `{{name}}: {{content}}` / `{{role}}: {{content}}` |
//!   | XML-Like - Name / Role | `<{{name}}>{{content}}</{{name}}>` (or `{{role}}`) |
//!   | Multiline XML-Like - Name / Role | `<{{name}}>` newline `{{content}}` newline `</{{name}}>` |
//!   | Divided - Name / Role | `### {{name}}` newline `{{content}}` |
//!
//!   A preset sets the template only. The divider is its own setting (default the text `\n`)
//!   and is the same for every preset. In both the template and the divider the two-character
//!   text `\n` becomes a newline, as in the reference.
//! - **Substitution** is one pass: text put in for a placeholder is never scanned again, so a
//!   message that quotes `{{name}}` keeps it. (The reference substitutes `{{name}}`, `{{role}}`,
//!   `{{content}}` in turn; only a name containing `{{role}}`/`{{content}}` renders differently.)
//! - **Per message.** Role `user` → `{{role}}` = `User`, `{{name}}` = its own `name` or the
//!   user name; `assistant` → `Character` and its own `name` or the character name; any other
//!   role → `System` / `System` (so SillyTavern's `example_user` / `example_assistant` system
//!   messages render as `System`). A message's own `name` counts only with `enable_msg_objects`.
//! - **Names** ([`resolve_names`]) start as `User` / `Character`. With `enable_msg_objects`,
//!   every `user` / `assistant` message with a `name` sets the user / character name, the last
//!   one seen winning. Then each `system` message, in order, is searched for an IR2 block
//!   `[[IR2u]]U[[/IR2u]]-[[IR2a]]C[[/IR2a]]` (`enable_ir2`) and then a Classic block
//!   `DATA1: "C" DATA2: "U"` (`enable_classic_irp`; DATA1 is the character); each found block
//!   overrides what came before. Only the first block of each kind in one message counts; the
//!   names may not span lines; the markers are case-sensitive. **The markers stay in the text
//!   sent**, as in the reference, which only reads them. Names that are empty or only
//!   whitespace are ignored everywhere (the reference would use an empty IR2/Classic capture).
//! - **Injection** ("Extra Instruction"): when formatting is on and the content is not blank,
//!   `{{user}}`, `{{char}}`, `{{username}}`, `{{asstname}}`, `{username}` and `{asstname}` are
//!   replaced with the resolved names, and the text is joined to the formatted chat with one
//!   newline, before or after. (The reference replaces `{username}` before `{{username}}`, which
//!   turns `{{username}}` into `{Name}`; here every spelling gives the bare name.)
//! - **`apply_formatting = false`**: each message is `role: content` with the raw role, joined
//!   with a newline; no template, divider, names or injection.
//! - **System field.** [`split_leading_system`] takes the leading run of `system` messages off
//!   for a provider's own system field; [`format_for_system_field`] does the whole job the way
//!   the reference's AI Studio driver does (see there).
//!
//! Text completions skip all of this: their prompt is sent as written (minus macros).
//!
//! Everything here is pure: no IO, no clock, no settings beyond the arguments.

use super::ChatMessage;

/// The user name when no message or marker gives one.
pub const DEFAULT_USER_NAME: &str = "User";
/// The character (assistant) name when no message or marker gives one.
pub const DEFAULT_CHAR_NAME: &str = "Character";
/// Both the `{{name}}` and the `{{role}}` of every message that is neither user nor assistant.
const SYSTEM_LABEL: &str = "System";

/// A built-in message template, or [`Preset::Custom`] for the user's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Preset {
    /// `{{name}}: {{content}}` (the reference default).
    #[default]
    ClassicName,
    /// `{{role}}: {{content}}`
    ClassicRole,
    /// `<{{name}}>{{content}}</{{name}}>`
    XmlLikeName,
    /// `<{{role}}>{{content}}</{{role}}>`
    XmlLikeRole,
    /// `<{{name}}>`, newline, `{{content}}`, newline, `</{{name}}>`
    MultilineXmlLikeName,
    /// `<{{role}}>`, newline, `{{content}}`, newline, `</{{role}}>`
    MultilineXmlLikeRole,
    /// `### {{name}}`, newline, `{{content}}`
    DividedName,
    /// `### {{role}}`, newline, `{{content}}`
    DividedRole,
    /// [`FormatSettings::template`], written by the user.
    Custom,
}

impl Preset {
    /// Every preset, in the reference's menu order.
    pub const ALL: [Preset; 9] = [
        Preset::ClassicName,
        Preset::ClassicRole,
        Preset::XmlLikeName,
        Preset::XmlLikeRole,
        Preset::MultilineXmlLikeName,
        Preset::MultilineXmlLikeRole,
        Preset::DividedName,
        Preset::DividedRole,
        Preset::Custom,
    ];

    /// The name the reference shows and stores (`Classic - Name`).
    pub const fn label(self) -> &'static str {
        match self {
            Preset::ClassicName => "Classic - Name",
            Preset::ClassicRole => "Classic - Role",
            Preset::XmlLikeName => "XML-Like - Name",
            Preset::XmlLikeRole => "XML-Like - Role",
            Preset::MultilineXmlLikeName => "Multiline XML-Like - Name",
            Preset::MultilineXmlLikeRole => "Multiline XML-Like - Role",
            Preset::DividedName => "Divided - Name",
            Preset::DividedRole => "Divided - Role",
            Preset::Custom => "Custom",
        }
    }

    /// The built-in template with its newlines already real, or `None` for [`Preset::Custom`].
    pub const fn template(self) -> Option<&'static str> {
        match self {
            Preset::ClassicName => Some("{{name}}: {{content}}"),
            Preset::ClassicRole => Some("{{role}}: {{content}}"),
            Preset::XmlLikeName => Some("<{{name}}>{{content}}</{{name}}>"),
            Preset::XmlLikeRole => Some("<{{role}}>{{content}}</{{role}}>"),
            Preset::MultilineXmlLikeName => Some("<{{name}}>\n{{content}}\n</{{name}}>"),
            Preset::MultilineXmlLikeRole => Some("<{{role}}>\n{{content}}\n</{{role}}>"),
            Preset::DividedName => Some("### {{name}}\n{{content}}"),
            Preset::DividedRole => Some("### {{role}}\n{{content}}"),
            Preset::Custom => None,
        }
    }

    /// Parses a preset name, ASCII case-insensitive and trimmed: the current labels, and the
    /// older names the reference's settings migrator maps (v2 `Classic`, `XML-Like`, `Divided`;
    /// v1 `Classic (Name)`, `Wrapped (Role)` … where "Wrapped" is Multiline XML-Like).
    pub fn from_label(label: &str) -> Option<Preset> {
        const OLD_NAMES: [(&str, Preset); 9] = [
            ("Classic", Preset::ClassicName),
            ("XML-Like", Preset::XmlLikeName),
            ("Divided", Preset::DividedName),
            ("Classic (Name)", Preset::ClassicName),
            ("Classic (Role)", Preset::ClassicRole),
            ("Wrapped (Name)", Preset::MultilineXmlLikeName),
            ("Wrapped (Role)", Preset::MultilineXmlLikeRole),
            ("Divided (Name)", Preset::DividedName),
            ("Divided (Role)", Preset::DividedRole),
        ];
        let wanted = label.trim();
        Preset::ALL
            .into_iter()
            .map(|preset| (preset.label(), preset))
            .chain(OLD_NAMES)
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, preset)| preset)
    }
}

/// Where the Extra Instruction goes relative to the formatted chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum InjectionPosition {
    /// Injection, newline, chat (the reference default).
    #[default]
    Before,
    /// Chat, newline, injection.
    After,
}

/// The formatting settings (the reference's `formatting` category), for one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatSettings {
    /// The built-in template to use, or [`Preset::Custom`].
    pub preset: Preset,
    /// The template used with [`Preset::Custom`]; ignored otherwise. The text `\n` is a newline.
    pub template: String,
    /// Put between rendered messages. The text `\n` is a newline.
    pub divider: String,
    /// Off: raw `role: content` lines and no injection.
    pub apply_formatting: bool,
    /// Read names from the messages' `name` fields.
    pub enable_msg_objects: bool,
    /// Read names from IR2 blocks in system messages.
    pub enable_ir2: bool,
    /// Read names from Classic `DATA1`/`DATA2` blocks in system messages.
    pub enable_classic_irp: bool,
    /// Where [`FormatSettings::injection_content`] goes.
    pub injection_position: InjectionPosition,
    /// The Extra Instruction; blank means none.
    pub injection_content: String,
    /// Remove `<think>…</think>` blocks from earlier assistant messages (see `shaping::history`).
    pub strip_history_thinking: bool,
}

impl Default for FormatSettings {
    /// The reference defaults: Classic - Name, divider `\n`, formatting on, every name source on,
    /// no injection (placed Before if one is set).
    fn default() -> Self {
        FormatSettings {
            preset: Preset::ClassicName,
            template: "{{name}}: {{content}}".to_owned(),
            divider: "\\n".to_owned(),
            apply_formatting: true,
            enable_msg_objects: true,
            enable_ir2: true,
            enable_classic_irp: true,
            injection_position: InjectionPosition::Before,
            injection_content: String::new(),
            strip_history_thinking: true,
        }
    }
}

impl FormatSettings {
    /// The template in effect, with the text `\n` turned into newlines.
    pub fn effective_template(&self) -> String {
        unescape_newlines(self.preset.template().unwrap_or(&self.template))
    }

    /// The divider with the text `\n` turned into newlines.
    pub fn effective_divider(&self) -> String {
        unescape_newlines(&self.divider)
    }
}

/// The two names a chat resolves to, borrowed from its messages or the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Names<'a> {
    /// The user's name: `{{user}}` in the injection, `{{name}}` of unnamed user messages.
    pub user: &'a str,
    /// The character's name: `{{char}}` in the injection, `{{name}}` of unnamed replies.
    pub character: &'a str,
}

impl Default for Names<'_> {
    fn default() -> Self {
        Names {
            user: DEFAULT_USER_NAME,
            character: DEFAULT_CHAR_NAME,
        }
    }
}

/// A prompt for a provider with its own system field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SystemSplit {
    /// Text for the system field; empty means leave the field empty.
    pub system: String,
    /// Text for the composer.
    pub prompt: String,
}

/// Resolves the user and character names of a chat (see the module docs for the order).
pub fn resolve_names<'a>(messages: &'a [ChatMessage], settings: &FormatSettings) -> Names<'a> {
    let mut names = Names::default();
    if settings.enable_msg_objects {
        for message in messages {
            let Some(name) = present(message.name.as_deref()) else {
                continue;
            };
            match message.role.as_str() {
                "user" => names.user = name,
                "assistant" => names.character = name,
                _ => {}
            }
        }
    }
    for message in messages.iter().filter(|m| m.role == "system") {
        if settings.enable_ir2
            && let Some((user, character)) = find_ir2(&message.content)
        {
            set_if_present(&mut names.user, user);
            set_if_present(&mut names.character, character);
        }
        if settings.enable_classic_irp
            && let Some((character, user)) = find_classic(&message.content)
        {
            set_if_present(&mut names.character, character);
            set_if_present(&mut names.user, user);
        }
    }
    names
}

/// Formats a whole chat into one prompt: names from the chat, every message rendered and
/// joined, then the injection.
pub fn format_chat(messages: &[ChatMessage], settings: &FormatSettings) -> String {
    let names = resolve_names(messages, settings);
    format_with_names(messages, names, settings)
}

/// Formats `messages` with names resolved elsewhere (for instance from a longer chat), adding
/// the injection when formatting is on.
pub fn format_with_names(
    messages: &[ChatMessage],
    names: Names<'_>,
    settings: &FormatSettings,
) -> String {
    let body = render_messages(messages, names, settings);
    match injection(names, settings) {
        Some(text) => match settings.injection_position {
            InjectionPosition::Before => format!("{text}\n{body}"),
            InjectionPosition::After => format!("{body}\n{text}"),
        },
        None => body,
    }
}

/// Replaces the name placeholders of an Extra Instruction.
pub fn render_injection(text: &str, names: Names<'_>) -> String {
    substitute(
        text,
        &[
            ("{{username}}", names.user),
            ("{{asstname}}", names.character),
            ("{{user}}", names.user),
            ("{{char}}", names.character),
            ("{username}", names.user),
            ("{asstname}", names.character),
        ],
    )
}

/// Splits the leading run of `system` messages off for a provider's own system field.
///
/// Returns the system text (each message's content trimmed, blank ones skipped, joined with a
/// blank line) and the messages after the run. When every message is a system message nothing
/// is split (`("", messages)`), so the composer never gets an empty prompt.
pub fn split_leading_system(messages: &[ChatMessage]) -> (String, &[ChatMessage]) {
    let run = messages
        .iter()
        .take_while(|message| message.role == "system")
        .count();
    if run == messages.len() {
        return (String::new(), messages);
    }
    let (leading, rest) = messages.split_at(run);
    let system = leading
        .iter()
        .map(|message| message.content.trim())
        .filter(|content| !content.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    (system, rest)
}

/// Formats a chat for a provider that has a system field, as the reference's AI Studio driver
/// does: the leading system messages go to the field ([`split_leading_system`]); names are
/// still resolved from the **whole** chat, so IR2/Classic blocks in those messages count; the
/// rest is rendered as usual. A `Before` injection goes to the end of the system field (after
/// a blank line), an `After` injection stays at the end of the prompt.
pub fn format_for_system_field(messages: &[ChatMessage], settings: &FormatSettings) -> SystemSplit {
    let names = resolve_names(messages, settings);
    let (mut system, rest) = split_leading_system(messages);
    let mut prompt = render_messages(rest, names, settings);
    if let Some(text) = injection(names, settings) {
        match settings.injection_position {
            InjectionPosition::Before => {
                let text = text.trim();
                if !system.is_empty() {
                    system.push_str("\n\n");
                }
                system.push_str(text);
            }
            InjectionPosition::After => {
                prompt.push('\n');
                prompt.push_str(&text);
            }
        }
    }
    SystemSplit { system, prompt }
}

// === rendering ===

/// Renders and joins the messages, without injection.
fn render_messages(
    messages: &[ChatMessage],
    names: Names<'_>,
    settings: &FormatSettings,
) -> String {
    if !settings.apply_formatting {
        return messages
            .iter()
            .map(|message| format!("{}: {}", message.role, message.content))
            .collect::<Vec<_>>()
            .join("\n");
    }
    let template = settings.effective_template();
    messages
        .iter()
        .map(|message| {
            let own = if settings.enable_msg_objects {
                present(message.name.as_deref())
            } else {
                None
            };
            let (role, name) = match message.role.as_str() {
                "user" => ("User", own.unwrap_or(names.user)),
                "assistant" => ("Character", own.unwrap_or(names.character)),
                _ => (SYSTEM_LABEL, SYSTEM_LABEL),
            };
            substitute(
                &template,
                &[
                    ("{{name}}", name),
                    ("{{role}}", role),
                    ("{{content}}", &message.content),
                ],
            )
        })
        .collect::<Vec<_>>()
        .join(&settings.effective_divider())
}

/// The rendered injection, or `None` when formatting is off or the content is blank.
fn injection(names: Names<'_>, settings: &FormatSettings) -> Option<String> {
    (settings.apply_formatting && !settings.injection_content.trim().is_empty())
        .then(|| render_injection(&settings.injection_content, names))
}

/// Replaces each placeholder in one left-to-right pass. At one position the first matching
/// key wins, so list longer keys before keys they contain.
fn substitute(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        rest = &rest[open..];
        match values.iter().find(|(key, _)| rest.starts_with(key)) {
            Some((key, value)) => {
                out.push_str(value);
                rest = &rest[key.len()..];
            }
            None => {
                out.push('{');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn unescape_newlines(text: &str) -> String {
    text.replace("\\n", "\n")
}

// === name sources ===

/// A name that is set and not blank.
fn present(name: Option<&str>) -> Option<&str> {
    name.filter(|name| !name.trim().is_empty())
}

fn set_if_present<'a>(slot: &mut &'a str, name: &'a str) {
    if let Some(name) = present(Some(name)) {
        *slot = name;
    }
}

/// The text up to (not including) the first newline.
fn line_of(text: &str) -> &str {
    text.split('\n').next().unwrap_or_default()
}

/// The first IR2 block `[[IR2u]]U[[/IR2u]]-[[IR2a]]C[[/IR2a]]` on one line, as (user, char).
/// Each name is the shortest text up to its closing marker, like the reference's lazy regex.
fn find_ir2(text: &str) -> Option<(&str, &str)> {
    const OPEN: &str = "[[IR2u]]";
    const MIDDLE: &str = "[[/IR2u]]-[[IR2a]]";
    const CLOSE: &str = "[[/IR2a]]";
    text.match_indices(OPEN).find_map(|(start, _)| {
        let line = line_of(&text[start + OPEN.len()..]);
        let middle = line.find(MIDDLE)?;
        let after = &line[middle + MIDDLE.len()..];
        let close = after.find(CLOSE)?;
        Some((&line[..middle], &after[..close]))
    })
}

/// The first Classic block `DATA1: "C"` (whitespace, newlines allowed) `DATA2: "U"`, as
/// (char, user). Each value stays on one line; like the reference's lazy regex, the first
/// value ends at the first quote that is followed by a well-formed `DATA2` part.
fn find_classic(text: &str) -> Option<(&str, &str)> {
    const FIRST: &str = "DATA1: \"";
    const SECOND: &str = "DATA2: \"";
    text.match_indices(FIRST).find_map(|(start, _)| {
        let value_start = start + FIRST.len();
        let line = line_of(&text[value_start..]);
        line.match_indices('"').find_map(|(quote, _)| {
            let tail = text[value_start + quote + 1..].trim_start();
            let second = line_of(tail.strip_prefix(SECOND)?);
            let end = second.find('"')?;
            Some((&line[..quote], &second[..end]))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: &str, content: &str, name: Option<&str>) -> ChatMessage {
        ChatMessage::new(role, content, name)
    }

    fn with_preset(preset: Preset) -> FormatSettings {
        FormatSettings {
            preset,
            ..FormatSettings::default()
        }
    }

    /// System, user (named Alice), assistant (unnamed), user (unnamed).
    fn small_chat() -> Vec<ChatMessage> {
        vec![
            msg("system", "Be brief.", None),
            msg("user", "Hi", Some("Alice")),
            msg("assistant", "Hello!", None),
            msg("user", "Bye", None),
        ]
    }

    #[test]
    fn defaults_are_the_reference_defaults() {
        let s = FormatSettings::default();
        assert_eq!(s.preset, Preset::ClassicName);
        assert_eq!(s.template, "{{name}}: {{content}}");
        assert_eq!(s.divider, "\\n");
        assert_eq!(s.effective_divider(), "\n");
        assert!(s.apply_formatting && s.enable_msg_objects && s.enable_ir2 && s.enable_classic_irp);
        assert_eq!(s.injection_position, InjectionPosition::Before);
        assert_eq!(s.injection_content, "");
    }

    #[test]
    fn every_preset_renders_the_small_chat() {
        let table: [(Preset, &str); 8] = [
            (
                Preset::ClassicName,
                "System: Be brief.\nAlice: Hi\nCharacter: Hello!\nAlice: Bye",
            ),
            (
                Preset::ClassicRole,
                "System: Be brief.\nUser: Hi\nCharacter: Hello!\nUser: Bye",
            ),
            (
                Preset::XmlLikeName,
                "<System>Be brief.</System>\n<Alice>Hi</Alice>\n\
                 <Character>Hello!</Character>\n<Alice>Bye</Alice>",
            ),
            (
                Preset::XmlLikeRole,
                "<System>Be brief.</System>\n<User>Hi</User>\n\
                 <Character>Hello!</Character>\n<User>Bye</User>",
            ),
            (
                Preset::MultilineXmlLikeName,
                "<System>\nBe brief.\n</System>\n<Alice>\nHi\n</Alice>\n\
                 <Character>\nHello!\n</Character>\n<Alice>\nBye\n</Alice>",
            ),
            (
                Preset::MultilineXmlLikeRole,
                "<System>\nBe brief.\n</System>\n<User>\nHi\n</User>\n\
                 <Character>\nHello!\n</Character>\n<User>\nBye\n</User>",
            ),
            (
                Preset::DividedName,
                "### System\nBe brief.\n### Alice\nHi\n### Character\nHello!\n### Alice\nBye",
            ),
            (
                Preset::DividedRole,
                "### System\nBe brief.\n### User\nHi\n### Character\nHello!\n### User\nBye",
            ),
        ];
        for (preset, expected) in table {
            assert_eq!(
                format_chat(&small_chat(), &with_preset(preset)),
                expected,
                "{}",
                preset.label()
            );
        }
    }

    #[test]
    fn custom_template_and_divider_text() {
        // (template, divider, expected)
        let table: [(&str, &str, &str); 5] = [
            (
                "[{{role}}|{{name}}] {{content}}",
                "\\n",
                "[System|System] Be brief.\n[User|Alice] Hi\n[Character|Character] Hello!\n\
                 [User|Alice] Bye",
            ),
            (
                "{{name}}:\\n{{content}}",
                "\\n\\n",
                "System:\nBe brief.\n\nAlice:\nHi\n\nCharacter:\nHello!\n\nAlice:\nBye",
            ),
            ("{{content}}", " | ", "Be brief. | Hi | Hello! | Bye"),
            ("{{name}}", "", "SystemAliceCharacterAlice"),
            (
                "{{Name}} {name} {{ name }}: {{content}}",
                "\n",
                "{{Name}} {name} {{ name }}: Be brief.\n{{Name}} {name} {{ name }}: Hi\n\
                 {{Name}} {name} {{ name }}: Hello!\n{{Name}} {name} {{ name }}: Bye",
            ),
        ];
        for (template, divider, expected) in table {
            let settings = FormatSettings {
                preset: Preset::Custom,
                template: template.into(),
                divider: divider.into(),
                ..FormatSettings::default()
            };
            assert_eq!(
                format_chat(&small_chat(), &settings),
                expected,
                "{template:?}"
            );
        }
    }

    #[test]
    fn the_template_field_counts_only_for_custom() {
        let settings = FormatSettings {
            preset: Preset::ClassicRole,
            template: "IGNORED {{content}}".into(),
            ..FormatSettings::default()
        };
        assert_eq!(format_chat(&[msg("user", "x", None)], &settings), "User: x");
    }

    #[test]
    fn divider_applies_to_every_preset() {
        let settings = FormatSettings {
            preset: Preset::DividedRole,
            divider: "\\n---\\n".into(),
            ..FormatSettings::default()
        };
        assert_eq!(
            format_chat(&small_chat()[1..3], &settings),
            "### User\nHi\n---\n### Character\nHello!"
        );
    }

    #[test]
    fn substitution_is_one_pass() {
        let chat = [
            msg("user", "say {{name}} and {{role}}", Some("{{content}}")),
            msg("assistant", "{{content}}", None),
        ];
        assert_eq!(
            format_chat(&chat, &FormatSettings::default()),
            "{{content}}: say {{name}} and {{role}}\nCharacter: {{content}}"
        );
    }

    #[test]
    fn preset_labels_round_trip_and_old_names_map() {
        for preset in Preset::ALL {
            assert_eq!(Preset::from_label(preset.label()), Some(preset));
        }
        let table: [(&str, Option<Preset>); 14] = [
            ("classic - name", Some(Preset::ClassicName)),
            ("  XML-LIKE - ROLE ", Some(Preset::XmlLikeRole)),
            ("custom", Some(Preset::Custom)),
            ("Classic", Some(Preset::ClassicName)),
            ("XML-Like", Some(Preset::XmlLikeName)),
            ("Divided", Some(Preset::DividedName)),
            ("Classic (Name)", Some(Preset::ClassicName)),
            ("Classic (Role)", Some(Preset::ClassicRole)),
            ("Wrapped (Name)", Some(Preset::MultilineXmlLikeName)),
            ("Wrapped (Role)", Some(Preset::MultilineXmlLikeRole)),
            ("Divided (Name)", Some(Preset::DividedName)),
            ("Divided (Role)", Some(Preset::DividedRole)),
            ("Multiline XML-Like", None),
            ("", None),
        ];
        for (label, expected) in table {
            assert_eq!(Preset::from_label(label), expected, "{label:?}");
        }
        assert_eq!(Preset::Custom.template(), None);
    }

    #[test]
    fn names_from_every_source() {
        let on = FormatSettings::default();
        let only = |objects: bool, ir2: bool, classic: bool| FormatSettings {
            enable_msg_objects: objects,
            enable_ir2: ir2,
            enable_classic_irp: classic,
            ..FormatSettings::default()
        };
        let ir2 = "Card. [[IR2u]]Bob[[/IR2u]]-[[IR2a]]Aria[[/IR2a]] end";
        let classic = "DATA1: \"Luna\" DATA2: \"Sam\"";
        // (messages, settings, expected user, expected character)
        let table: Vec<(Vec<ChatMessage>, FormatSettings, &str, &str)> = vec![
            // Defaults.
            (
                vec![msg("user", "x", None)],
                on.clone(),
                "User",
                "Character",
            ),
            (vec![], on.clone(), "User", "Character"),
            // Message objects by role; the last one seen wins; system names do not count.
            (
                vec![
                    msg("user", "a", Some("U1")),
                    msg("assistant", "b", Some("C1")),
                    msg("user", "c", Some("U2")),
                    msg("assistant", "d", Some("C2")),
                    msg("user", "e", None),
                    msg("system", "f", Some("example_user")),
                ],
                on.clone(),
                "U2",
                "C2",
            ),
            // Blank names are ignored.
            (
                vec![msg("user", "a", Some("U1")), msg("user", "b", Some("  "))],
                on.clone(),
                "U1",
                "Character",
            ),
            (
                vec![msg("user", "a", Some("U1"))],
                only(false, true, true),
                "User",
                "Character",
            ),
            // IR2 in a system message beats message objects.
            (
                vec![msg("system", ir2, None), msg("user", "a", Some("U1"))],
                on.clone(),
                "Bob",
                "Aria",
            ),
            (
                vec![msg("system", ir2, None)],
                only(true, false, true),
                "User",
                "Character",
            ),
            // IR2 outside system messages is ignored.
            (
                vec![msg("user", ir2, None)],
                on.clone(),
                "User",
                "Character",
            ),
            // Classic: DATA1 is the character, DATA2 the user.
            (
                vec![msg("system", classic, None)],
                on.clone(),
                "Sam",
                "Luna",
            ),
            (
                vec![msg("system", "DATA1: \"Luna\"\n  DATA2: \"Sam\"", None)],
                on.clone(),
                "Sam",
                "Luna",
            ),
            (
                vec![msg("system", classic, None)],
                only(true, true, false),
                "User",
                "Character",
            ),
            // In one message Classic is read after IR2; across messages the later one wins.
            (
                vec![msg("system", &format!("{ir2}\n{classic}"), None)],
                on.clone(),
                "Sam",
                "Luna",
            ),
            (
                vec![msg("system", classic, None), msg("system", ir2, None)],
                on.clone(),
                "Bob",
                "Aria",
            ),
            // Only the first block of a kind in one message counts.
            (
                vec![msg(
                    "system",
                    "DATA1: \"A\" DATA2: \"B\" DATA1: \"C\" DATA2: \"D\"",
                    None,
                )],
                on.clone(),
                "B",
                "A",
            ),
            // An empty capture keeps the name from before.
            (
                vec![
                    msg("user", "a", Some("U1")),
                    msg("system", "[[IR2u]][[/IR2u]]-[[IR2a]]Aria[[/IR2a]]", None),
                ],
                on.clone(),
                "U1",
                "Aria",
            ),
            // Every source off.
            (
                vec![
                    msg("system", ir2, None),
                    msg("system", classic, None),
                    msg("user", "a", Some("U1")),
                ],
                only(false, false, false),
                "User",
                "Character",
            ),
        ];
        for (messages, settings, user, character) in table {
            assert_eq!(
                resolve_names(&messages, &settings),
                Names { user, character },
                "{messages:?}"
            );
        }
    }

    #[test]
    fn ir2_marker_parsing() {
        let table: [(&str, Option<(&str, &str)>); 8] = [
            (
                "[[IR2u]]Bob[[/IR2u]]-[[IR2a]]Aria[[/IR2a]]",
                Some(("Bob", "Aria")),
            ),
            (
                "x [[IR2u]]Bob Smith[[/IR2u]]-[[IR2a]]Aria the Bold[[/IR2a]] y",
                Some(("Bob Smith", "Aria the Bold")),
            ),
            // Case-sensitive markers.
            ("[[ir2u]]Bob[[/ir2u]]-[[ir2a]]Aria[[/ir2a]]", None),
            // No dash between the blocks.
            ("[[IR2u]]Bob[[/IR2u]][[IR2a]]Aria[[/IR2a]]", None),
            // Names may not span lines.
            ("[[IR2u]]Bob\n[[/IR2u]]-[[IR2a]]Aria[[/IR2a]]", None),
            ("[[IR2u]]Bob[[/IR2u]]-[[IR2a]]Aria\n[[/IR2a]]", None),
            // A broken first block, a good one on the next line.
            (
                "[[IR2u]]X\n[[IR2u]]Bob[[/IR2u]]-[[IR2a]]Aria[[/IR2a]]",
                Some(("Bob", "Aria")),
            ),
            ("no markers", None),
        ];
        for (text, expected) in table {
            assert_eq!(find_ir2(text), expected, "{text:?}");
        }
    }

    #[test]
    fn classic_marker_parsing() {
        let table: [(&str, Option<(&str, &str)>); 8] = [
            ("DATA1: \"Luna\" DATA2: \"Sam\"", Some(("Luna", "Sam"))),
            ("DATA1: \"Luna\"DATA2: \"Sam\"", Some(("Luna", "Sam"))),
            ("DATA1: \"Luna\"\n\n\tDATA2: \"Sam\"", Some(("Luna", "Sam"))),
            // The first value extends to the quote that is followed by DATA2.
            ("DATA1: \"Lu\"na\" DATA2: \"Sam\"", Some(("Lu\"na", "Sam"))),
            // Values stay on one line.
            ("DATA1: \"Luna\nx\" DATA2: \"Sam\"", None),
            ("DATA1: \"Luna\" DATA2: \"Sam\nx\"", None),
            // Exact spelling: one space after the colon.
            ("DATA1:\"Luna\" DATA2:\"Sam\"", None),
            ("data1: \"Luna\" data2: \"Sam\"", None),
        ];
        for (text, expected) in table {
            assert_eq!(find_classic(text), expected, "{text:?}");
        }
    }

    #[test]
    fn markers_stay_in_the_text() {
        let chat = [
            msg("system", "[[IR2u]]Bob[[/IR2u]]-[[IR2a]]Aria[[/IR2a]]", None),
            msg("user", "Hi", None),
            msg("assistant", "Hey", None),
        ];
        assert_eq!(
            format_chat(&chat, &FormatSettings::default()),
            "System: [[IR2u]]Bob[[/IR2u]]-[[IR2a]]Aria[[/IR2a]]\nBob: Hi\nAria: Hey"
        );
    }

    #[test]
    fn own_names_need_msg_objects() {
        let chat = [
            msg("user", "Hi", Some("Alice")),
            msg("assistant", "Hello", Some("Bot")),
            msg("user", "Yo", Some("Carol")),
        ];
        let on = FormatSettings::default();
        assert_eq!(format_chat(&chat, &on), "Alice: Hi\nBot: Hello\nCarol: Yo");
        let off = FormatSettings {
            enable_msg_objects: false,
            ..FormatSettings::default()
        };
        assert_eq!(
            format_chat(&chat, &off),
            "User: Hi\nCharacter: Hello\nUser: Yo"
        );
    }

    #[test]
    fn other_roles_render_as_system() {
        let chat = [
            msg("tool", "t", Some("calc")),
            msg("developer", "d", None),
            msg("system", "s", Some("example_user")),
        ];
        assert_eq!(
            format_chat(&chat, &with_preset(Preset::XmlLikeRole)),
            "<System>t</System>\n<System>d</System>\n<System>s</System>"
        );
    }

    #[test]
    fn injection_before_after_and_placeholders() {
        let chat = [
            msg("user", "Hi", Some("Bob")),
            msg("assistant", "Hey", Some("Aria")),
        ];
        // (position, content, expected prompt)
        let table: [(InjectionPosition, &str, &str); 7] = [
            (
                InjectionPosition::Before,
                "[Stay in character as {{char}}.]",
                "[Stay in character as Aria.]\nBob: Hi\nAria: Hey",
            ),
            (
                InjectionPosition::After,
                "[{{user}} is watching.]",
                "Bob: Hi\nAria: Hey\n[Bob is watching.]",
            ),
            (
                InjectionPosition::Before,
                "{username}/{asstname}/{{username}}/{{asstname}}/{{user}}/{{char}}",
                "Bob/Aria/Bob/Aria/Bob/Aria\nBob: Hi\nAria: Hey",
            ),
            (
                InjectionPosition::After,
                "{{User}} {{ user }} {user} {{content}}",
                "Bob: Hi\nAria: Hey\n{{User}} {{ user }} {user} {{content}}",
            ),
            (
                InjectionPosition::Before,
                "line one\\nstays literal",
                "line one\\nstays literal\nBob: Hi\nAria: Hey",
            ),
            (InjectionPosition::Before, "", "Bob: Hi\nAria: Hey"),
            (InjectionPosition::After, "  \n ", "Bob: Hi\nAria: Hey"),
        ];
        for (position, content, expected) in table {
            let settings = FormatSettings {
                injection_position: position,
                injection_content: content.into(),
                ..FormatSettings::default()
            };
            assert_eq!(format_chat(&chat, &settings), expected, "{content:?}");
        }
    }

    #[test]
    fn injection_uses_default_names() {
        let settings = FormatSettings {
            injection_content: "{{user}} & {{char}}".into(),
            ..FormatSettings::default()
        };
        assert_eq!(
            format_chat(&[msg("user", "x", None)], &settings),
            "User & Character\nUser: x"
        );
    }

    #[test]
    fn formatting_off_gives_raw_lines_without_injection() {
        let settings = FormatSettings {
            apply_formatting: false,
            preset: Preset::XmlLikeName,
            divider: " | ".into(),
            injection_content: "ignored".into(),
            ..FormatSettings::default()
        };
        assert_eq!(
            format_chat(&small_chat(), &settings),
            "system: Be brief.\nuser: Hi\nassistant: Hello!\nuser: Bye"
        );
    }

    #[test]
    fn split_leading_system_cases() {
        let chat = [
            msg("system", "  Main prompt.  ", None),
            msg("system", "   ", None),
            msg("system", "Second.", Some("example_user")),
            msg("user", "Hi", None),
            msg("system", "Not leading.", None),
        ];
        let (system, rest) = split_leading_system(&chat);
        assert_eq!(system, "Main prompt.\n\nSecond.");
        assert_eq!(rest, &chat[3..]);

        let no_system = [msg("user", "Hi", None), msg("system", "late", None)];
        let (system, rest) = split_leading_system(&no_system);
        assert_eq!(system, "");
        assert_eq!(rest, &no_system[..]);

        let only_system = [msg("system", "a", None), msg("system", "b", None)];
        let (system, rest) = split_leading_system(&only_system);
        assert_eq!(system, "");
        assert_eq!(rest, &only_system[..]);

        let (system, rest) = split_leading_system(&[]);
        assert_eq!((system.as_str(), rest.len()), ("", 0));
    }

    #[test]
    fn system_field_keeps_names_and_moves_a_before_injection() {
        let chat = [
            msg(
                "system",
                "Card. [[IR2u]]Bob[[/IR2u]]-[[IR2a]]Aria[[/IR2a]]",
                None,
            ),
            msg("user", "Hi", None),
            msg("assistant", "Hey", None),
        ];
        let plain = format_for_system_field(&chat, &FormatSettings::default());
        assert_eq!(
            plain,
            SystemSplit {
                system: "Card. [[IR2u]]Bob[[/IR2u]]-[[IR2a]]Aria[[/IR2a]]".into(),
                prompt: "Bob: Hi\nAria: Hey".into(),
            }
        );

        let before = FormatSettings {
            injection_content: "  Be {{char}}.  ".into(),
            ..FormatSettings::default()
        };
        assert_eq!(
            format_for_system_field(&chat, &before),
            SystemSplit {
                system: "Card. [[IR2u]]Bob[[/IR2u]]-[[IR2a]]Aria[[/IR2a]]\n\nBe Aria.".into(),
                prompt: "Bob: Hi\nAria: Hey".into(),
            }
        );
        // No leading system message: the Before injection alone fills the field.
        assert_eq!(
            format_for_system_field(&chat[1..], &before),
            SystemSplit {
                system: "Be Character.".into(),
                prompt: "User: Hi\nCharacter: Hey".into(),
            }
        );

        let after = FormatSettings {
            injection_position: InjectionPosition::After,
            injection_content: "Be {{char}}.".into(),
            ..FormatSettings::default()
        };
        assert_eq!(
            format_for_system_field(&chat, &after),
            SystemSplit {
                system: "Card. [[IR2u]]Bob[[/IR2u]]-[[IR2a]]Aria[[/IR2a]]".into(),
                prompt: "Bob: Hi\nAria: Hey\nBe Aria.".into(),
            }
        );

        let raw = FormatSettings {
            apply_formatting: false,
            injection_content: "ignored".into(),
            ..FormatSettings::default()
        };
        assert_eq!(
            format_for_system_field(&chat, &raw),
            SystemSplit {
                system: "Card. [[IR2u]]Bob[[/IR2u]]-[[IR2a]]Aria[[/IR2a]]".into(),
                prompt: "user: Hi\nassistant: Hey".into(),
            }
        );
    }

    /// A chat shaped like SillyTavern's: main prompt, `[Example Chat]` with example dialogue
    /// as named system messages, history with "Message Names", and a macro in the last user
    /// message.
    fn sillytavern_chat() -> Vec<ChatMessage> {
        vec![
            msg(
                "system",
                "Write Aria's next reply in a fictional chat between Aria and Bob.",
                None,
            ),
            msg("system", "[Example Chat]", None),
            msg("system", "How are you?", Some("example_user")),
            msg("system", "*waves* Splendid!", Some("example_assistant")),
            msg("system", "[Start a new Chat]", None),
            msg("assistant", "*Aria looks up.* Oh, hello.", Some("Aria")),
            msg("user", "Hi Aria.", Some("Bob")),
            msg("assistant", "What brings you here?", Some("Aria")),
            msg("user", "Just passing by. [[nothink]]", Some("Bob")),
        ]
    }

    #[test]
    fn sillytavern_chat_in_one_prompt() {
        use crate::models::ProviderKind;
        use crate::shaping::macros::{MacroOverrides, strip_chat_macros};

        let mut chat = sillytavern_chat();
        let overrides = strip_chat_macros(ProviderKind::DeepSeek, &mut chat);
        assert_eq!(
            overrides,
            MacroOverrides {
                thinking: Some(false),
                ..MacroOverrides::default()
            }
        );
        let settings = FormatSettings {
            injection_content: "[Reply as {{char}} to {{user}}.]".into(),
            ..FormatSettings::default()
        };
        assert_eq!(
            format_chat(&chat, &settings),
            "[Reply as Aria to Bob.]\n\
             System: Write Aria's next reply in a fictional chat between Aria and Bob.\n\
             System: [Example Chat]\n\
             System: How are you?\n\
             System: *waves* Splendid!\n\
             System: [Start a new Chat]\n\
             Aria: *Aria looks up.* Oh, hello.\n\
             Bob: Hi Aria.\n\
             Aria: What brings you here?\n\
             Bob: Just passing by."
        );
    }

    #[test]
    fn sillytavern_chat_with_a_system_field() {
        use crate::models::ProviderKind;
        use crate::shaping::macros::strip_chat_macros;

        let mut chat = sillytavern_chat();
        let overrides = strip_chat_macros(ProviderKind::AiStudio, &mut chat);
        assert_eq!(overrides.thinking, Some(false));
        assert_eq!(
            format_for_system_field(&chat, &with_preset(Preset::XmlLikeName)),
            SystemSplit {
                system: "Write Aria's next reply in a fictional chat between Aria and Bob.\n\n\
                         [Example Chat]\n\nHow are you?\n\n*waves* Splendid!\n\n\
                         [Start a new Chat]"
                    .into(),
                prompt: "<Aria>*Aria looks up.* Oh, hello.</Aria>\n<Bob>Hi Aria.</Bob>\n\
                         <Aria>What brings you here?</Aria>\n<Bob>Just passing by.</Bob>"
                    .into(),
            }
        );
    }
}
