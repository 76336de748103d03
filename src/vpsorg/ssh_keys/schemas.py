from typing import Annotated

from pydantic import BaseModel, Field

from vpsorg.schemas import AllowControls, RequestModel, Timestamp


class SshKeyCreate(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
    public_key: Annotated[
        str,
        Field(
            min_length=1,
            max_length=16384,
            description="An OpenSSH public key line: 'ssh-ed25519 AAAA... comment' (tabs and a "
            "line ending, as in a key file, are folded into single spaces)",
            examples=[
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBx8Hf7KZwwOtU/LRntaqUk3/eBEBgZ7EXaVd+Ur8OCV user@laptop"
            ],
        ),
        AllowControls("\t\n\r"),
    ]


class SshKeyOut(BaseModel):
    id: int
    name: str
    public_key: str
    fingerprint: str = Field(examples=["SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"])
    created_at: Timestamp
