//! Where the CJK font comes from. None is compiled into the library: Android and iOS hand over a
//! system font through the FFI (`PlatformFonts`), and the desktop CLI, the server and the tests
//! read Debian's `fonts-noto-cjk` ([`SystemFonts`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use skrifa::raw::{FileRef, FontRef, TableProvider};
use skrifa::string::StringId;
use skrifa::MetadataProvider;

use crate::error::{ErrorKind, Result, RoadsideError};

/// The bytes of a font file and which face of it to use (a `.ttc` collection holds several).
#[derive(Clone)]
pub struct FontData {
    pub bytes: Arc<Vec<u8>>,
    /// Face index inside a TrueType/OpenType collection; 0 for a single font file.
    pub index: u32,
}

impl std::fmt::Debug for FontData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FontData")
            .field("bytes", &self.bytes.len())
            .field("index", &self.index)
            .finish()
    }
}

/// Supplies the font the documents are set in: one face covering Simplified Chinese (GB 2312 at
/// least, GB 18030 ideally) and Latin.
pub trait FontSource: Send + Sync {
    fn cjk_font(&self) -> Result<FontData>;
}

impl<T: FontSource + ?Sized> FontSource for Arc<T> {
    fn cjk_font(&self) -> Result<FontData> {
        (**self).cjk_font()
    }
}

/// The environment variable that names the font file, optionally with the face index:
/// `ROADSIDE_CJK_FONT=/path/to/font.ttc:2`. Without an index, the Simplified Chinese face of a
/// collection is looked up by name (face 0 for a single font).
pub const CJK_FONT_ENV: &str = "ROADSIDE_CJK_FONT";

/// Debian's `fonts-noto-cjk`, in order of preference: the serif (宋体-like) face the standard forms
/// are set in, then the sans.
pub const NOTO_CJK_PATHS: &[&str] = &[
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
];

/// The font of the desktop and the tests: the file named by `ROADSIDE_CJK_FONT` when set, else
/// the first of [`NOTO_CJK_PATHS`] that exists. The file is read on every call; a renderer reads it
/// once ([`super::Renderer::new`]).
#[derive(Debug, Clone, Default)]
pub struct SystemFonts {
    /// Overrides both the environment and the Noto paths (for a caller that has its own setting).
    pub path: Option<PathBuf>,
    pub index: Option<u32>,
}

impl SystemFonts {
    /// Looks in the environment and then the Noto paths.
    pub fn new() -> Self {
        SystemFonts::default()
    }

    /// Uses exactly this file (and face, when given).
    pub fn at(path: impl Into<PathBuf>, index: Option<u32>) -> Self {
        SystemFonts {
            path: Some(path.into()),
            index,
        }
    }

    fn missing(what: String) -> RoadsideError {
        RoadsideError::new(
            ErrorKind::NotFound,
            "FONT_MISSING",
            format!(
                "{what}。请安装中文字体包 fonts-noto-cjk（apt-get install fonts-noto-cjk），\
                 或以环境变量 {CJK_FONT_ENV}=字体文件路径[:字体序号] 指定字体"
            ),
        )
    }

    /// Where the font comes from: (path, explicit face index).
    fn locate(&self) -> Result<(PathBuf, Option<u32>)> {
        if let Some(path) = &self.path {
            return Ok((path.clone(), self.index));
        }
        if let Some(value) = std::env::var_os(CJK_FONT_ENV) {
            let value = value.to_string_lossy().into_owned();
            return Ok(parse_font_setting(&value));
        }
        NOTO_CJK_PATHS
            .iter()
            .map(Path::new)
            .find(|p| p.is_file())
            .map(|p| (p.to_path_buf(), None))
            .ok_or_else(|| {
                Self::missing(format!(
                    "找不到中文字体（已查找 {}）",
                    NOTO_CJK_PATHS.join("、")
                ))
            })
    }
}

/// Splits `path[:index]`; a suffix that is not a number is part of the path.
fn parse_font_setting(value: &str) -> (PathBuf, Option<u32>) {
    if let Some((path, index)) = value.rsplit_once(':') {
        if let Ok(i) = index.parse::<u32>() {
            return (PathBuf::from(path), Some(i));
        }
    }
    (PathBuf::from(value), None)
}

impl FontSource for SystemFonts {
    fn cjk_font(&self) -> Result<FontData> {
        let (path, index) = self.locate()?;
        let bytes = std::fs::read(&path)
            .map_err(|e| Self::missing(format!("无法读取中文字体文件 {}：{e}", path.display())))?;
        let index = match index {
            Some(i) => i,
            None => simplified_chinese_face(&bytes).map_err(|e| {
                Self::missing(format!(
                    "字体文件 {} 无法使用：{}",
                    path.display(),
                    e.message()
                ))
            })?,
        };
        let data = FontData {
            bytes: Arc::new(bytes),
            index,
        };
        check_font(&data).map_err(|e| {
            Self::missing(format!(
                "字体文件 {} 无法使用：{}",
                path.display(),
                e.message()
            ))
        })?;
        Ok(data)
    }
}

fn font_invalid(message: String) -> RoadsideError {
    RoadsideError::new(ErrorKind::NotFound, "FONT_INVALID", message)
}

/// The face of a collection whose family name is the Simplified Chinese one ("Noto Serif CJK SC",
/// "Source Han Sans SC", "PingFang SC"…); face 0 for a single font or when no face says so.
pub fn simplified_chinese_face(bytes: &[u8]) -> Result<u32> {
    let file = FileRef::new(bytes)
        .map_err(|e| font_invalid(format!("不是可读的 OpenType 字体文件（{e}）")))?;
    let faces = match file {
        FileRef::Font(_) => return Ok(0),
        FileRef::Collection(c) => c,
    };
    for i in 0..faces.len() {
        let Ok(face) = faces.get(i) else { continue };
        let families: Vec<String> = face
            .localized_strings(StringId::FAMILY_NAME)
            .map(|s| s.to_string())
            .chain(
                face.localized_strings(StringId::TYPOGRAPHIC_FAMILY_NAME)
                    .map(|s| s.to_string()),
            )
            .collect();
        if families.iter().any(|f| {
            let f = f.trim();
            f.ends_with(" SC") || f.ends_with(" GB") || f.contains("Simplified")
        }) {
            return Ok(i);
        }
    }
    Ok(0)
}

/// The face can be read and maps the characters every document has.
pub(crate) fn check_font(data: &FontData) -> Result<()> {
    let face = FontRef::from_index(&data.bytes, data.index)
        .map_err(|e| font_invalid(format!("第 {} 号字体无法读取（{e}）", data.index)))?;
    face.head()
        .map_err(|e| font_invalid(format!("字体缺少 head 表（{e}）")))?;
    let charmap = face.charmap();
    if let Some(c) = "执法笔录号0".chars().find(|&c| charmap.map(c).is_none()) {
        return Err(font_invalid(format!(
            "第 {} 号字体不含中文字符（缺少“{c}”）",
            data.index
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_is_a_path_with_an_optional_face() {
        assert_eq!(
            parse_font_setting("/f/a.ttc:2"),
            (PathBuf::from("/f/a.ttc"), Some(2))
        );
        assert_eq!(
            parse_font_setting("/f/a.ttf"),
            (PathBuf::from("/f/a.ttf"), None)
        );
        assert_eq!(
            parse_font_setting("C:/fonts/a.ttf"),
            (PathBuf::from("C:/fonts/a.ttf"), None)
        );
    }

    #[test]
    fn a_missing_file_is_font_missing() {
        let e = SystemFonts::at("/nonexistent/font.ttc", None)
            .cjk_font()
            .unwrap_err();
        assert_eq!(e.code(), "FONT_MISSING");
        assert!(e.message().contains("fonts-noto-cjk"), "{}", e.message());
        assert!(e.message().contains(CJK_FONT_ENV), "{}", e.message());
    }

    #[test]
    fn a_file_that_is_not_a_font_is_font_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.ttf");
        std::fs::write(&path, b"not a font").expect("write");
        let e = SystemFonts::at(&path, None).cjk_font().unwrap_err();
        assert_eq!(e.code(), "FONT_MISSING");
    }
}
