"""A realistic, entirely fictitious fiche (an axe 2 orientation from a MDS to a France Travail
agency), two A4 pages long: for the demo, the tests and the benchmarks. No real person."""

from __future__ import annotations

from datetime import date

from exchange.fiches.pdf import AttachmentLine, ConsentStatement, FicheDocument, PersonBlock
from exchange.platform.pdf.french import long_date

_MOTIVE = (
    "Mme Lefèvre-Morin a été reçue à trois reprises à la Maison des solidarités depuis la "
    "fin de son contrat à durée déterminée dans la restauration collective. Elle souhaite "
    "reprendre une activité salariée rapidement, mais plusieurs difficultés se cumulent : "
    "un logement devenu trop onéreux depuis la séparation, l’absence de solution de garde "
    "pour son fils de quatre ans le mercredi et pendant les vacances scolaires, et des "
    "problèmes de santé (douleurs dorsales) qui limitent les postes qu’elle peut occuper.\n\n"
    "Le diagnostic partagé du 18 novembre a mis en évidence une forte motivation et une "
    "expérience professionnelle de huit ans (aide de cuisine, plonge, service en self). "
    "Elle maîtrise les règles d’hygiène (HACCP) et a encadré ponctuellement des saisonniers. "
    "L’accompagnement global permettrait de travailler conjointement la levée des freins "
    "sociaux — dossier de logement social, demande d’aide au mode de garde, orientation vers "
    "la médecine du travail pour un avis d’aptitude — et la définition d’un projet "
    "professionnel compatible avec son état de santé (accueil, préparation froide, "
    "employée de restauration en établissement scolaire).\n\n"
    "Elle a exprimé le souhait d’être accompagnée par un conseiller unique côté France "
    "Travail et de conserver son assistante sociale référente. Une rencontre tripartite "
    "pourra être organisée dans les trois semaines suivant l’entrée en accompagnement."
)

_EXPECTATIONS = (
    "Retrouver un emploi stable à temps plein, idéalement en horaires de journée, dans un "
    "rayon de 20 km autour de Montauban ; être aidée dans ses démarches de relogement ; "
    "obtenir une solution de garde fiable pour le mercredi. Elle est prête à suivre une "
    "formation courte si elle débouche sur un poste « moins physique »."
)


def sample_fiche(*, signed_on: date = date(2026, 11, 23)) -> FicheDocument:
    """The sample fiche, signed on ``signed_on``."""
    return FicheDocument(
        reference="FL-2026-000417",
        kind_label="Orientation vers l'accompagnement global (axe 2)",
        convention_title=(
            "Convention de coopération pour l'accompagnement global des demandeurs d'emploi "
            "— Département de Tarn-et-Garonne et France Travail, 2022-2024 (avenant n° 2)"
        ),
        sender_institution="Département de Tarn-et-Garonne",
        sender_unit="Maison des solidarités de Montauban-Est",
        sender_user="Élodie Lefèvre, assistante de service social",
        recipient_institution="France Travail Occitanie",
        recipient_unit="Agence France Travail de Montauban Albasud",
        created_on=long_date(date(2026, 11, 19)),
        signed_on=long_date(signed_on),
        person=PersonBlock(
            last_name="Lefèvre-Morin",
            birth_name="Morin",
            first_names="Anaïs, Zoé",
            birth_date=long_date(date(1989, 3, 1)),
            france_travail_id="4127803M",
            address="12, rue de l’Œuvre-Saint-Jacques\nRésidence « Les Acacias », bât. C\n"
            "82000 Montauban",
            phone="06 12 34 56 78",
            email="anais.lefevre@example.org",
            rsa_beneficiary=True,
        ),
        consent=ConsentStatement(
            notice_version="Notice d'information n° 3 (septembre 2026)",
            method="Consentement signé sur papier, formulaire numérisé",
            collected_by="Élodie Lefèvre",
            collected_on=long_date(date(2026, 11, 18)),
            purpose="orientation vers l'accompagnement global (axe 2)",
        ),
        sections=(
            ("Date du diagnostic partagé", long_date(date(2026, 11, 18))),
            (
                "Freins sociaux",
                (
                    "Santé",
                    "Logement",
                    "Famille et garde d'enfants",
                    "Finances",
                ),
            ),
            (
                "Freins professionnels",
                "Pas de permis B ; expérience limitée à la restauration collective ; "
                "restrictions médicales probables sur le port de charges lourdes.",
            ),
            ("Motif de l'orientation", _MOTIVE),
            ("Attentes de la personne", _EXPECTATIONS),
        ),
        attachments=(
            AttachmentLine("consentement-signe.pdf", 184_320),
            AttachmentLine("attestation-caf.jpg", 1_258_291),
        ),
        countersigned_by="Karine Dubœuf",
    )
