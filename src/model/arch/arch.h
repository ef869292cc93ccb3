// Factories of the architecture files (one file per architecture in model/arch/).
#pragma once

#include <memory>
#include <string>

#include "format/model_dir.h"
#include "model/model.h"

namespace ollmlx::arch {

std::unique_ptr<Model> make_llama(const format::ModelDir& dir, Backend& be, const ModelOptions& opt);
std::unique_ptr<Model> make_qwen2(const format::ModelDir& dir, Backend& be, const ModelOptions& opt);
std::unique_ptr<Model> make_qwen3(const format::ModelDir& dir, Backend& be, const ModelOptions& opt);
std::unique_ptr<Model> make_phi3(const format::ModelDir& dir, Backend& be, const ModelOptions& opt);
std::unique_ptr<Model> make_gemma2(const format::ModelDir& dir, Backend& be, const ModelOptions& opt);
std::unique_ptr<Model> make_gemma3_text(const format::ModelDir& dir, Backend& be, const ModelOptions& opt);
std::unique_ptr<Model> make_gemma3(const format::ModelDir& dir, Backend& be, const ModelOptions& opt);

// "affine 4-bit g64", "affine 4-bit g64 (mixed)", "bf16" ... from the quantization block and dtypes.
std::string describe_quantization(const format::ModelDir& dir);

}  // namespace ollmlx::arch
